"""An independent gRPC client of the OSM Ops API (grpcio + grpcio-tools from PyPI).

Generates its stubs from proto/osmops/v1/osmops.proto, discovers the service through server
reflection (v1), and calls ListSyncs / ListOperations / GetSync. Run by tests/grpc.rs as:
    python grpc_client_test.py <host:port> <namespace> <sync-name>
Prints one JSON line with what it saw; exits non-zero on any failed expectation.
"""
import json
import os
import sys
import tempfile

import grpc
from grpc_tools import protoc
from google.protobuf import descriptor_pb2

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def generate_stubs():
    out = tempfile.mkdtemp(prefix="osmops-pystubs-")
    args = [
        "protoc",
        "-I", os.path.join(REPO, "proto"),
        "-I", os.path.join(HERE, "proto"),
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        "osmops/v1/osmops.proto",
        "reflection_v1/reflection.proto",
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    sys.path.insert(0, out)


def main():
    addr, namespace, name = sys.argv[1], sys.argv[2], sys.argv[3]
    generate_stubs()
    from osmops.v1 import osmops_pb2, osmops_pb2_grpc
    from reflection_v1 import reflection_pb2, reflection_pb2_grpc

    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=20)

    # Discovery through server reflection v1, as generic tools (grpcurl, Postman) do.
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    services = [s.name for s in next(reflection.ServerReflectionInfo(iter([req]))).list_services_response.service]
    assert "osmops.v1.OsmOps" in services, services
    assert "grpc.health.v1.Health" in services, services
    req = reflection_pb2.ServerReflectionRequest(file_containing_symbol="osmops.v1.OsmOps")
    files = next(reflection.ServerReflectionInfo(iter([req]))).file_descriptor_response.file_descriptor_proto
    fd = descriptor_pb2.FileDescriptorProto.FromString(files[0])
    assert fd.package == "osmops.v1", fd.package
    methods = [m.name for s in fd.service if s.name == "OsmOps" for m in s.method]
    for m in ["ListSyncs", "GetSync", "GetPlan", "PreviewPlan", "ListOperations", "GetOperation", "WatchEvents"]:
        assert m in methods, methods

    stub = osmops_pb2_grpc.OsmOpsStub(channel)
    syncs = stub.ListSyncs(osmops_pb2.ListSyncsRequest(namespace=namespace), timeout=10).syncs
    mine = [s for s in syncs if s.ref.name == name]
    assert mine and mine[0].ready == "True", syncs
    ops = stub.ListOperations(osmops_pb2.ListOperationsRequest(namespace=namespace, page_size=10), timeout=10).operations
    assert ops, "no operations"
    for o in ops:
        assert o.nslcmop_id and o.revision and o.ns_name and o.state, o
    try:
        stub.GetSync(osmops_pb2.GetSyncRequest(ref=osmops_pb2.SyncRef(namespace=namespace, name="does-not-exist")), timeout=10)
        raise AssertionError("GetSync of a missing OsmSync succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()
    print(json.dumps({
        "services": sorted(services),
        "syncs": [{"name": s.ref.name, "ready": s.ready, "revision": s.last_applied_revision} for s in syncs],
        "operations": [{"id": o.nslcmop_id, "type": o.type, "state": o.state, "revision": o.revision} for o in ops],
    }))


if __name__ == "__main__":
    main()
