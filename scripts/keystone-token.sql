-- Keystone's `token` table exactly as its migrations create it (identical to the model since Juno).
-- Read by scripts/mariadb-sandbox.sh (schema) and by the Rust test harness (tests/common).
CREATE TABLE IF NOT EXISTS token (
    id VARCHAR(64) NOT NULL,
    expires DATETIME NULL,
    extra TEXT NULL,
    valid TINYINT(1) NOT NULL DEFAULT 1,
    trust_id VARCHAR(64) NULL,
    user_id VARCHAR(64) NULL,
    PRIMARY KEY (id),
    INDEX ix_token_expires (expires),
    INDEX ix_token_expires_valid (expires, valid),
    INDEX ix_token_user_id (user_id),
    INDEX ix_token_trust_id (trust_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3;
