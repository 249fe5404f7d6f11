-- Organizations, their API keys, connections and models.
CREATE TABLE organizations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- SHA-256 of the key; the key itself is never stored.
    key_hash   TEXT NOT NULL UNIQUE,
    -- The first characters of the key, to tell keys apart in listings.
    prefix     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE connections (
    id                        TEXT PRIMARY KEY,
    org_id                    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider_name             TEXT NOT NULL,
    name                      TEXT,
    api_url                   TEXT,
    is_on_premise             BOOLEAN NOT NULL,
    is_sync_disabled          BOOLEAN NOT NULL,
    include_dimension_lines   BOOLEAN NOT NULL,
    is_authentication_pending BOOLEAN NOT NULL,
    is_running_setup          BOOLEAN NOT NULL,
    is_bc_extension_installed BOOLEAN NOT NULL,
    company                   TEXT,
    company_name              TEXT,
    environment               TEXT,
    tenant_id                 TEXT,
    authorization_url         TEXT,
    owner_id                  TEXT,
    linked_integration_id     TEXT,
    missing_settings          TEXT NOT NULL,
    health_status             TEXT NOT NULL,
    health_message            TEXT,
    health_checked_at         TEXT NOT NULL,
    created_at                TEXT NOT NULL,
    modified_at               TEXT NOT NULL
);
CREATE INDEX connections_by_org ON connections (org_id, id);

CREATE TABLE models (
    id                     TEXT PRIMARY KEY,
    connection_id          TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name                   TEXT NOT NULL,
    display_name           TEXT NOT NULL,
    is_read_enabled        BOOLEAN NOT NULL,
    is_write_enabled       BOOLEAN NOT NULL,
    is_read_supported      BOOLEAN NOT NULL,
    is_write_supported     BOOLEAN NOT NULL,
    is_sync_supported      BOOLEAN NOT NULL,
    is_custom_object       BOOLEAN NOT NULL,
    is_file_upload_enabled BOOLEAN NOT NULL,
    is_webhooks_setup      BOOLEAN NOT NULL,
    sync_frequency_secs    BIGINT NOT NULL,
    next_sync_at           TEXT,
    created_at             TEXT NOT NULL,
    modified_at            TEXT NOT NULL,
    UNIQUE (connection_id, name)
);
