-- Incidents: 网格吹哨、部门报到. Found in a grid, accepted and solved there or escalated to the
-- village, whistled to township departments, verified and closed; every step an event with
-- who, when, where and a note. The workflow's rules are in cuntu_core::incident; the database
-- keeps the states and the versions honest.

CREATE TABLE incident_categories (
    code    text PRIMARY KEY CHECK (code ~ '^[a-z_]{2,40}$'),
    name_zh text NOT NULL,
    name_en text NOT NULL,
    active  boolean NOT NULL DEFAULT true,
    sort    integer NOT NULL DEFAULT 0
);
INSERT INTO incident_categories (code, name_zh, name_en, sort) VALUES
    ('road_occupied', '占道经营/占用道路', 'road occupied', 10),
    ('illegal_building', '违法建设', 'illegal building', 20),
    ('rubbish', '垃圾堆放', 'rubbish', 30),
    ('fire_hazard', '消防隐患', 'fire hazard', 40),
    ('dispute', '矛盾纠纷', 'dispute between neighbours', 50),
    ('water', '供水排水问题', 'water supply or drainage', 60),
    ('safety', '安全隐患', 'safety hazard', 70),
    ('other', '其他', 'other', 99);

-- Township departments (应急管理办, 综合执法队...) and who works in each.
CREATE TABLE departments (
    id          bigserial PRIMARY KEY,
    township_id bigint NOT NULL REFERENCES areas(id) ON DELETE CASCADE,
    code        text NOT NULL CHECK (code ~ '^[a-z0-9_]{2,40}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    UNIQUE (township_id, code)
);
CREATE TABLE department_members (
    department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (department_id, user_id)
);

-- How long each step may take, per grade: minutes of the clock, or working days. A row here
-- overrides the published-practice default of cuntu_core::incident::default_allowance.
CREATE TABLE incident_deadlines (
    grade        text NOT NULL CHECK (grade IN ('normal', 'major', 'urgent')),
    step         text NOT NULL CHECK (step IN ('accept', 'dept_accept', 'dept_arrive', 'resolve')),
    minutes      integer NOT NULL DEFAULT 0 CHECK (minutes >= 0),
    working_days integer NOT NULL DEFAULT 0 CHECK (working_days >= 0),
    PRIMARY KEY (grade, step)
);

CREATE TABLE incidents (
    id               bigserial PRIMARY KEY,
    township_id      bigint REFERENCES areas(id) ON DELETE SET NULL,
    village_id       bigint REFERENCES areas(id) ON DELETE SET NULL,
    grid_id          bigint REFERENCES areas(id) ON DELETE SET NULL,
    geom             geometry(Point, 4326) NOT NULL,
    category         text NOT NULL REFERENCES incident_categories(code),
    grade            text NOT NULL CHECK (grade IN ('normal', 'major', 'urgent')),
    description      text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
    state            text NOT NULL DEFAULT 'reported' CHECK (state IN ('reported', 'accepted',
                         'escalated', 'whistled', 'dept_accepted', 'dept_arrived', 'resolved',
                         'verified', 'closed')),
    resolved_by      text CHECK (resolved_by IN ('grid', 'village', 'department')),
    escalation_level integer NOT NULL DEFAULT 0,
    due_at           timestamptz,
    missed_deadlines integer NOT NULL DEFAULT 0,
    reported_by      bigint REFERENCES users(id) ON DELETE SET NULL,
    reporter_name    text CHECK (length(reporter_name) <= 100),
    reporter_email   text CHECK (length(reporter_email) <= 200),
    source           text NOT NULL DEFAULT 'app' CHECK (source IN ('app', 'open311')),
    reported_at      timestamptz NOT NULL,
    whistled_at      timestamptz,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    score            smallint CHECK (score BETWEEN 1 AND 5),
    version          integer NOT NULL DEFAULT 1
);
CREATE INDEX incidents_geom_idx ON incidents USING gist (geom);
CREATE INDEX incidents_township_state_idx ON incidents (township_id, state);
CREATE INDEX incidents_grid_idx ON incidents (grid_id);

CREATE TABLE incident_departments (
    incident_id   bigint NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    department_id bigint NOT NULL REFERENCES departments(id) ON DELETE CASCADE,
    lead          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (incident_id, department_id)
);
CREATE INDEX incident_departments_department_idx ON incident_departments (department_id);

CREATE TABLE incident_events (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    action      text NOT NULL,
    from_state  text,
    to_state    text NOT NULL,
    user_id     bigint REFERENCES users(id) ON DELETE SET NULL,
    actor       text,
    at          timestamptz NOT NULL,
    geom        geometry(Point, 4326),
    note        text CHECK (length(note) <= 2000),
    -- The step this event ended was past its deadline.
    late        boolean NOT NULL DEFAULT false
);
CREATE INDEX incident_events_incident_idx ON incident_events (incident_id, at);

-- Evidence for 核查反馈: where and when each photo was taken; a closure photo far from the
-- incident or older than the whistle is flagged.
CREATE TABLE incident_photos (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    stage        text NOT NULL CHECK (stage IN ('before', 'after')),
    taken_at     timestamptz,
    geom         geometry(Point, 4326),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes        bytea NOT NULL,
    far_m        double precision,
    flagged      boolean NOT NULL DEFAULT false,
    flag_reason  text,
    user_id      bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX incident_photos_incident_idx ON incident_photos (incident_id);
