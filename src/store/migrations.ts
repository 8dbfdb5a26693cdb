/** Ordered schema steps; PRAGMA user_version counts how many have run. Append, never edit. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  INSERT INTO counters VALUES ('serial', 0);

  CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    serial INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );

  CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    version TEXT NOT NULL,
    yanked INTEGER NOT NULL DEFAULT 0,
    yank_reason TEXT NOT NULL DEFAULT '',
    UNIQUE (project_id, version)
  );

  CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    release_id INTEGER NOT NULL REFERENCES releases(id),
    filename TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('sdist', 'wheel', 'egg')),
    python_tag TEXT NOT NULL,
    abi_tag TEXT,
    platform TEXT,
    build_tag TEXT,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    md5 TEXT NOT NULL,
    blake2b_256 TEXT,
    metadata_sha256 TEXT,
    requires_python TEXT,
    requires_dist TEXT NOT NULL,
    summary TEXT NOT NULL,
    top_level TEXT NOT NULL,
    uploaded_at TEXT NOT NULL,
    uploader TEXT NOT NULL,
    origin TEXT NOT NULL CHECK (origin IN ('upload', 'import', 'build')),
    deleted_at TEXT,
    deleted_by TEXT
  );
  CREATE INDEX files_by_release ON files (release_id) WHERE deleted_at IS NULL;

  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );

  CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );

  CREATE TABLE roles (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    role TEXT NOT NULL CHECK (role IN ('view', 'upload', 'admin')),
    PRIMARY KEY (project_id, user_id)
  );
  CREATE INDEX roles_by_user ON roles (user_id);

  CREATE TABLE history (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    project TEXT,
    subject TEXT,
    detail TEXT NOT NULL DEFAULT ''
  );
  `,
];
