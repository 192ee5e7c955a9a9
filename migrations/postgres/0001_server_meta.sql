-- Facts about this database itself, as key/value pairs.
-- `schema_family` lets an operator see which dialect a dump came from;
-- `created_at` is when this server's database was first initialised.
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO server_meta (key, value) VALUES ('schema_family', 'postgres');
INSERT INTO server_meta (key, value) VALUES ('created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
