-- Keystone's `token` table exactly as `keystone-manage db_sync` of Keystone 30.0.0 creates it (the
-- initial Alembic migration 27e647c0fad4; no later one touches it), as MariaDB 10.11 prints it with
-- SHOW CREATE TABLE. `valid` has no server default: Keystone's model gave it a Python-side default,
-- so every INSERT names it, and ours must too. db_sync creates the secondary indexes in no fixed
-- order (alembic walks a Python set); they are listed here in the order the migration declares them.
-- tests/openstack/e2e.sh checks this file against a real db_sync; scripts/keystone-schema.sh prints it.
-- Read by scripts/mariadb-sandbox.sh (schema) and by the Rust test harness (tests/common).
CREATE TABLE `token` (
  `id` varchar(64) NOT NULL,
  `expires` datetime DEFAULT NULL,
  `extra` text DEFAULT NULL,
  `valid` tinyint(1) NOT NULL,
  `trust_id` varchar(64) DEFAULT NULL,
  `user_id` varchar(64) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_token_expires` (`expires`),
  KEY `ix_token_expires_valid` (`expires`,`valid`),
  KEY `ix_token_user_id` (`user_id`),
  KEY `ix_token_trust_id` (`trust_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;
