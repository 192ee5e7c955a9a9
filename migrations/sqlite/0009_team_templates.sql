-- Message templates per team (issue 15): the text is sealed on the staff
-- member's device to the team's key, as an envelope signed by that device,
-- so the server stores opaque bytes only. Who saved a template and from
-- which device are kept so colleagues' clients can check the signature
-- against that device's certificate.
CREATE TABLE team_templates (
    team_id     TEXT NOT NULL REFERENCES teams (id),
    template_id TEXT NOT NULL,
    sealed      BLOB NOT NULL CHECK (length(sealed) <= 16384),
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL REFERENCES accounts (id),
    device_id   TEXT NOT NULL REFERENCES devices (id),
    PRIMARY KEY (team_id, template_id)
) STRICT;
