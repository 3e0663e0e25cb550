-- Argo CD health check for osmops.io/OsmSync, in the shape Argo CD uses for Flux's kinds.
-- Install it under resource.customizations.health.osmops.io_OsmSync in argocd-cm
-- (docs/operations.md). Progressing until the controller has observed the current generation
-- (a new OsmSync's status defaults to observedGeneration -1), Suspended when spec.suspend is
-- true or a plan awaits approval (Argo Rollouts' paused rollouts are Suspended too), Degraded
-- when Stalled or Ready=False (a rollout paused by a failed batch included), Healthy when
-- Ready=True (also with the Drifted condition: drift the policy only reports is in the message).
local hs = {}
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Reconciliation is suspended"
  return hs
end
if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the OsmSync controller"
  return hs
end
local generation = obj.metadata.generation
if obj.status.observedGeneration == nil or generation == nil or obj.status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the OsmSync controller to observe generation " .. tostring(generation)
  return hs
end
local ready = nil
local stalled = nil
local reconciling = nil
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Ready" then ready = c end
    if c.type == "Stalled" then stalled = c end
    if c.type == "Reconciling" then reconciling = c end
  end
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = (stalled.reason or "") .. ": " .. (stalled.message or "")
  return hs
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  if obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == "Drifted" and c.status == "True" then
        hs.message = hs.message .. "; " .. (c.message or "drifted")
      end
    end
  end
  return hs
end
if ready ~= nil and ready.status == "False" and ready.reason == "AwaitingApproval" then
  hs.status = "Suspended"
  hs.message = "AwaitingApproval: " .. (ready.message or "")
  return hs
end
if ready ~= nil and ready.status == "False" then
  -- A dependency still catching up is progress, not a fault.
  if ready.reason == "DependencyNotReady" or (reconciling ~= nil and reconciling.status == "True") then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
  return hs
end
hs.status = "Progressing"
hs.message = (ready ~= nil and ready.message) or "Reconciliation in progress"
return hs
