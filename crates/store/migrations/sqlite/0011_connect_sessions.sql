-- The hosted connect page. A connect link carries a random token (only its hash is kept); the first
-- browser to open it claims the session and gets a cookie whose hash is kept in browser_hash. Every
-- form the page shows carries csrf_token. The session works until expires_at (the link's deadline
-- before it is claimed, the browser session's after).
CREATE TABLE connect_sessions (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    link_hash     TEXT NOT NULL UNIQUE,
    browser_hash  TEXT UNIQUE,
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    claimed_at    TEXT,
    expires_at    TEXT NOT NULL
);
CREATE INDEX connect_sessions_by_connection ON connect_sessions (connection_id);

-- How the connect page presents the organization's platform.
ALTER TABLE organizations ADD COLUMN brand_name TEXT;
ALTER TABLE organizations ADD COLUMN brand_logo TEXT;
ALTER TABLE organizations ADD COLUMN brand_color TEXT;
