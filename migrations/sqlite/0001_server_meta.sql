-- Facts about this database itself, as key/value pairs.
-- `schema_family` lets an operator see which dialect a dump came from;
-- `created_at` is when this server's database was first initialised.
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

INSERT INTO server_meta (key, value) VALUES ('schema_family', 'sqlite');
INSERT INTO server_meta (key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
