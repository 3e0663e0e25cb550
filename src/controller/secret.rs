//! The OSM credentials Secret: keys `url` (or the original `hostname: host:port`), `user`,
//! `password`, `project`, optional `ca.crt`. Values never leave this module except as the
//! credentials handed to the NBI client.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;

use crate::osm::{Credentials, Secret as Password};

pub struct OsmConnection {
    pub url: String,
    pub credentials: Credentials,
    pub ca_pem: Option<Vec<u8>>,
}

/// Reads the connection from a Secret; the error names missing or invalid keys, never values.
pub fn connection_from_secret(secret: &Secret) -> Result<OsmConnection, String> {
    let mut values: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        values.insert(k.clone(), v.0.clone());
    }
    for (k, v) in secret.string_data.iter().flatten() {
        values.insert(k.clone(), v.clone().into_bytes());
    }
    let text = |key: &str| -> Result<Option<String>, String> {
        match values.get(key) {
            None => Ok(None),
            Some(b) => String::from_utf8(b.clone())
                .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                .map_err(|_| format!("key '{key}' is not UTF-8 text")),
        }
    };
    let url = match (text("url")?, text("hostname")?) {
        (Some(u), _) => {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                return Err("key 'url' must start with https:// or http://".into());
            }
            u
        }
        // The original operator's connection file: host:port behind a plain-HTTP front.
        (None, Some(h)) => format!("http://{h}/osm"),
        (None, None) => return Err("missing key 'url' (or 'hostname')".into()),
    };
    let user = text("user")?.ok_or("missing key 'user'")?;
    let password = text("password")?.ok_or("missing key 'password'")?;
    let project = text("project")?.unwrap_or_else(|| "admin".into());
    let ca_pem = values.get("ca.crt").cloned().filter(|c| !c.is_empty());
    Ok(OsmConnection {
        url,
        credentials: Credentials {
            user,
            password: Password::new(password),
            project,
        },
        ca_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(pairs: &[(&str, &str)]) -> Secret {
        Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn reads_url_or_original_hostname() {
        let c = connection_from_secret(&secret(&[
            ("url", "https://osm:9999/osm"),
            ("user", "u"),
            ("password", "p"),
            ("project", "x"),
        ]))
        .unwrap();
        assert_eq!(
            (c.url.as_str(), c.credentials.project.as_str()),
            ("https://osm:9999/osm", "x")
        );
        let c = connection_from_secret(&secret(&[
            ("hostname", "host.ie:8008"),
            ("user", "vans"),
            ("password", "*"),
        ]))
        .unwrap();
        assert_eq!(c.url, "http://host.ie:8008/osm");
        assert_eq!(c.credentials.project, "admin");
    }

    #[test]
    fn errors_name_keys_not_values() {
        let err = connection_from_secret(&secret(&[("url", "https://osm/osm"), ("user", "u")]))
            .err()
            .unwrap();
        assert_eq!(err, "missing key 'password'");
        let err = connection_from_secret(&secret(&[
            ("url", "osm.example:9999"),
            ("user", "u"),
            ("password", "hunter2"),
        ]))
        .err()
        .unwrap();
        assert!(!err.contains("hunter2") && err.contains("'url'"), "{err}");
    }
}
