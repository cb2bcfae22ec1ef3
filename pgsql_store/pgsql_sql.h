// The SQL of the PostgreSQL store: what each backend call sends, and the
// schema totp-admin --init-store creates and upgrades (pam_totp(8), FLEET).
// One statement per round trip; writes go through SECURITY DEFINER
// functions, so the hosts' role needs no write grant on any table.
#pragma once

#include <array>
#include <string_view>

namespace pgsql {

// Per session: the server gives up no later than the client does.
inline constexpr const char* session_setup =
    "SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $1, false), "
    "set_config('idle_in_transaction_session_timeout', $1, false)";

inline constexpr const char* read_claims =
    "SELECT token_id, holder FROM pam_totp.claims WHERE token_id = ANY($1::text[])";
inline constexpr const char* add_claim = "SELECT pam_totp.add_claim($1, $2)";
inline constexpr const char* drop_claim = "SELECT pam_totp.drop_claim($1, $2)";
inline constexpr const char* try_lock = "SELECT pg_try_advisory_lock(hashtextextended($1, $2::bigint))";
inline constexpr const char* unlock_all = "SELECT pg_advisory_unlock_all()";
inline constexpr const char* read_state = "SELECT state FROM pam_totp.states WHERE name = $1";
inline constexpr const char* save_state = "SELECT pam_totp.save_state($1, $2, $3::boolean)";

inline constexpr int schema_version = 1;

// Each step upgrades the schema from version N (its index) to N + 1; run
// by totp-admin --init-store in one transaction, as the database owner.
inline constexpr std::array<std::string_view, schema_version> schema_steps = {
    R"SQL(
CREATE SCHEMA pam_totp;
CREATE TABLE pam_totp.meta (key text PRIMARY KEY, value text NOT NULL);
-- One account's state (core/store/state_format.h), as a state file holds it.
CREATE TABLE pam_totp.states (
    name text PRIMARY KEY CHECK (name ~ '^(u-[^/]{1,200}|h-[0-9a-f]{64})$'),
    state text NOT NULL CHECK (octet_length(state) <= 229376),
    updated timestamptz NOT NULL DEFAULT now());
-- Which state holds each secret's replay record.
CREATE TABLE pam_totp.claims (
    token_id text PRIMARY KEY CHECK (token_id ~ '^[0-9a-f]{32}$'),
    holder text NOT NULL CHECK (holder ~ '^(u-[^/]{1,200}|h-[0-9a-f]{64})$'),
    claimed timestamptz NOT NULL DEFAULT now());

-- A relaxed write commits asynchronously (it may be lost in a crash, never
-- the durable record before it); a durable one as the server is set up.
CREATE FUNCTION pam_totp.save_state(p_name text, p_state text, p_durable boolean) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT p_durable THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    INSERT INTO pam_totp.states (name, state) VALUES (p_name, p_state)
        ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state, updated = now();
END $$;

CREATE FUNCTION pam_totp.add_claim(p_token text, p_holder text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO pam_totp.claims (token_id, holder) VALUES (p_token, p_holder) ON CONFLICT DO NOTHING;
    RETURN FOUND;
END $$;

-- A claim goes when the record it points at is gone (pruned from its
-- state, or the state was never written); only if it still names p_holder,
-- whose lock the caller holds.
CREATE FUNCTION pam_totp.drop_claim(p_token text, p_holder text) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DELETE FROM pam_totp.claims c WHERE c.token_id = p_token AND c.holder = p_holder;
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA pam_totp FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pam_totp FROM PUBLIC;
INSERT INTO pam_totp.meta (key, value) VALUES ('schema_version', '1');
)SQL",
};

// The grants a host role needs (printed by totp-admin --init-store, ROLE
// replaced by the role's quoted name): read the two tables, call the three
// functions; nothing else, no write grant.
inline constexpr std::string_view host_grants = R"SQL(GRANT USAGE ON SCHEMA pam_totp TO ROLE;
GRANT SELECT ON pam_totp.states, pam_totp.claims, pam_totp.meta TO ROLE;
GRANT EXECUTE ON FUNCTION pam_totp.save_state(text, text, boolean),
                          pam_totp.add_claim(text, text),
                          pam_totp.drop_claim(text, text) TO ROLE;
)SQL";

}  // namespace pgsql
