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
  `
  CREATE TABLE enrolments (
    id INTEGER PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );

  CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    revoked_at TEXT
  );

  CREATE TABLE targets (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('wheel', 'egg')),
    implementation TEXT NOT NULL,
    python_version TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    egg_platform TEXT NOT NULL,
    wheel_tags TEXT NOT NULL,
    first_seen_at TEXT NOT NULL
  );

  CREATE TABLE agent_targets (
    agent_id INTEGER NOT NULL REFERENCES agents(id),
    target_key TEXT NOT NULL REFERENCES targets(key),
    PRIMARY KEY (agent_id, target_key)
  );

  CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    sdist_id INTEGER NOT NULL REFERENCES files(id),
    target_key TEXT NOT NULL REFERENCES targets(key),
    status TEXT NOT NULL CHECK (status IN ('queued', 'leased', 'succeeded', 'failed', 'cancelled', 'not_applicable')),
    attempts INTEGER NOT NULL DEFAULT 0,
    agent_id INTEGER REFERENCES agents(id),
    lease_expires_at INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (sdist_id, target_key)
  );
  CREATE INDEX jobs_queue ON jobs (target_key, id) WHERE status = 'queued';
  CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE status = 'leased';
  CREATE INDEX jobs_by_status ON jobs (status, id);

  CREATE TABLE job_log (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    at TEXT NOT NULL,
    stream TEXT NOT NULL,
    text TEXT NOT NULL
  );
  CREATE INDEX job_log_by_job ON job_log (job_id, id);

  CREATE TABLE job_events (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id),
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    agent TEXT,
    detail TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX job_events_by_job ON job_events (job_id, id);

  ALTER TABLE files ADD COLUMN job_id INTEGER REFERENCES jobs(id);
  ALTER TABLE files ADD COLUMN native_modules TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE files ADD COLUMN linked_libraries TEXT NOT NULL DEFAULT '[]';
  ALTER TABLE files ADD COLUMN degraded INTEGER NOT NULL DEFAULT 0;
  `,
  `
  ALTER TABLE files ADD COLUMN verification TEXT NOT NULL DEFAULT 'pending' CHECK (verification IN ('pending', 'verified', 'failed'));

  CREATE TABLE node_interpreters (
    node TEXT NOT NULL,
    path TEXT NOT NULL,
    probe TEXT NOT NULL,
    probed_at TEXT NOT NULL,
    PRIMARY KEY (node, path)
  );

  CREATE TABLE node_health (
    node TEXT PRIMARY KEY,
    healthy INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    checked_at TEXT NOT NULL
  );

  CREATE TABLE checks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('new', 'reverify', 'manual')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'verified', 'failed')),
    node TEXT,
    interpreter TEXT,
    reason TEXT NOT NULL DEFAULT '',
    log TEXT NOT NULL DEFAULT '',
    modules TEXT NOT NULL DEFAULT '[]',
    missing_libraries TEXT NOT NULL DEFAULT '[]',
    degraded INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    retry_after INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX checks_by_file ON checks (file_id, id);
  CREATE INDEX checks_open ON checks (status, retry_after) WHERE status IN ('pending', 'running');
  `,
  `
  DROP INDEX checks_open;
  CREATE INDEX checks_pending ON checks (retry_after) WHERE status = 'pending';
  `,
  // Enrolment secrets are reusable until they expire or reach their use limit (NULL: no limit).
  // Secrets made before this step get a day from their creation, as new ones do by default.
  `
  ALTER TABLE enrolments ADD COLUMN expires_at TEXT NOT NULL DEFAULT '';
  ALTER TABLE enrolments ADD COLUMN max_uses INTEGER;
  ALTER TABLE enrolments ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE enrolments ADD COLUMN last_used_at TEXT;
  UPDATE enrolments SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', created_at, '+1 day');
  `,
  // A node whose interpreter changed since its probe is quarantined until probed again; verdicts
  // it gave since the last check that found that interpreter as probed are re-queued.
  `
  ALTER TABLE node_health ADD COLUMN quarantine TEXT NOT NULL DEFAULT '';
  ALTER TABLE node_interpreters ADD COLUMN good_comparison_at TEXT;
  `,
  `
  ALTER TABLE agents ADD COLUMN slots INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE jobs ADD COLUMN lease_secret_hash TEXT;
  ALTER TABLE jobs ADD COLUMN build_token_hash TEXT;
  CREATE UNIQUE INDEX jobs_by_build_token ON jobs (build_token_hash) WHERE build_token_hash IS NOT NULL;
  CREATE INDEX jobs_by_agent ON jobs (agent_id) WHERE status = 'leased';
  ALTER TABLE files ADD COLUMN provenance TEXT;
  `,
  // The verdict matrix: each check is for one interpreter (Python X.Y on a platform), set when the
  // file's first check is spread over every interpreter it fits; checks from before keep NULL and
  // no longer count, nor do checks on an interpreter the configuration no longer has (retired at
  // the next spread). A failed check says whether the artifact is broken or a dependency has no
  // file for that Python, and how the project's smoke check went. Waivers and smoke checks are an
  // admin's word, kept with who gave it; a revoked waiver stays as history.
  `
  ALTER TABLE checks ADD COLUMN python TEXT;
  ALTER TABLE checks ADD COLUMN platform TEXT;
  ALTER TABLE checks ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE checks ADD COLUMN cause TEXT NOT NULL DEFAULT '' CHECK (cause IN ('', 'broken', 'unresolvable'));
  ALTER TABLE checks ADD COLUMN smoke TEXT;

  CREATE TABLE smoke_checks (
    project_id INTEGER PRIMARY KEY REFERENCES projects(id),
    code TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL
  );

  CREATE TABLE waivers (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    version TEXT,
    module TEXT,
    python TEXT,
    degraded INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_by TEXT,
    revoked_at TEXT
  );
  CREATE INDEX waivers_by_project ON waivers (project, id);
  `,
  // A farm build that came out degraded or regressed is held off the default index with its reason.
  `
  ALTER TABLE files ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
  `,
  // A hold an admin released (release-hold, a degraded waiver) stays released: comparing the build
  // again with a baseline verified later must not hold it anew.
  `
  ALTER TABLE files ADD COLUMN hold_released_at TEXT;
  `,
  // The page files nginx serves are rendered again for the projects whose serial moved.
  `
  CREATE INDEX projects_by_serial ON projects (serial);
  `,
  // An unresolvable verdict names the project it missed, so a file of that project arriving later
  // (the farm builds in no particular order) has it checked again.
  `
  ALTER TABLE checks ADD COLUMN missing_requirement TEXT NOT NULL DEFAULT '';
  CREATE INDEX checks_unresolvable ON checks (missing_requirement) WHERE cause = 'unresolvable';
  `,
  // Web UI sign-ins: a session is known by the hash of its cookie, carries the token its forms
  // must send back (CSRF), and ends at its expiry or at sign-out. The UI's lists read files
  // newest first and by state, so those reads are indexed; its search reads each project's
  // summary (its newest file's), kept on the project so a search does not visit every file.
  `
  CREATE TABLE sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
  );
  CREATE INDEX sessions_by_expiry ON sessions (expires_at);
  CREATE INDEX files_failed ON files (id) WHERE verification = 'failed' AND deleted_at IS NULL;
  CREATE INDEX files_held ON files (id) WHERE hold_reason != '' AND deleted_at IS NULL;
  CREATE INDEX checks_running ON checks (id) WHERE status = 'running';
  CREATE INDEX files_by_job ON files (job_id) WHERE job_id IS NOT NULL;
  ALTER TABLE projects ADD COLUMN summary TEXT NOT NULL DEFAULT '';
  UPDATE projects SET summary = coalesce((SELECT f.summary FROM releases r JOIN files f ON f.release_id = r.id
    WHERE r.project_id = projects.id ORDER BY f.id DESC LIMIT 1), '');
  `,
  // A web UI session lasts only as long as the credential it was signed in with: the token's id
  // (NULL for a password) lets revoking a token end the sessions it opened.
  `
  ALTER TABLE sessions ADD COLUMN token_id INTEGER REFERENCES tokens(id);
  CREATE INDEX sessions_by_user ON sessions (user_id);
  CREATE INDEX sessions_by_token ON sessions (token_id) WHERE token_id IS NOT NULL;
  `,
  // A job's log size, kept as lines arrive: a build's log has a budget (services/jobs.ts), which
  // a sum over its lines at every append would cost more the more it wrote.
  `
  ALTER TABLE jobs ADD COLUMN log_chars INTEGER NOT NULL DEFAULT 0;
  UPDATE jobs SET log_chars = coalesce((SELECT sum(length(text)) FROM job_log WHERE job_id = jobs.id), 0);
  `,
  // check.py decides what a check imports from the files the installer wrote; top_level.txt as
  // read at ingest named packages a file may not hold, and nothing reads it any more.
  `
  ALTER TABLE files DROP COLUMN top_level;
  `,
  // A check that flooded its output on a node running several at once is run again with the node
  // to itself, so the flood is this file's or not (services/checks.ts).
  `
  ALTER TABLE checks ADD COLUMN alone INTEGER NOT NULL DEFAULT 0;
  `,
  // A check reads the index with a credential of its own, valid while it runs (services/checks.ts):
  // a private index needs one, and code from the file checked must find nothing longer-lived.
  `
  ALTER TABLE checks ADD COLUMN credential_hash TEXT;
  CREATE UNIQUE INDEX checks_by_credential ON checks (credential_hash) WHERE credential_hash IS NOT NULL;
  `,
];
