-- Keystone's `trust` table exactly as `keystone-manage db_sync` of Keystone 30.0.0 creates it, as
-- MariaDB 10.11 prints it with SHOW CREATE TABLE: the initial Alembic migration's table, whose
-- 6-column `duplicate_trust_constraint_expanded` the bobcat migrations replaced by the 5-column
-- `duplicate_trust_constraint` (expand b4f8b3f584e0, contract 99de3849d860). No index covers
-- `expires_at`, `expires_at_int` or `deleted_at`: every flush predicate scans the table.
-- tests/openstack/e2e.sh checks this file against a real db_sync; scripts/keystone-schema.sh prints it.
-- Read by tests/presets.rs.
CREATE TABLE `trust` (
  `id` varchar(64) NOT NULL,
  `trustor_user_id` varchar(64) NOT NULL,
  `trustee_user_id` varchar(64) NOT NULL,
  `project_id` varchar(64) DEFAULT NULL,
  `impersonation` tinyint(1) NOT NULL,
  `deleted_at` datetime DEFAULT NULL,
  `expires_at` datetime DEFAULT NULL,
  `remaining_uses` int(11) DEFAULT NULL,
  `extra` text DEFAULT NULL,
  `expires_at_int` bigint(20) DEFAULT NULL,
  `redelegated_trust_id` varchar(64) DEFAULT NULL,
  `redelegation_count` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `duplicate_trust_constraint` (`trustor_user_id`,`trustee_user_id`,`project_id`,`impersonation`,`expires_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;
