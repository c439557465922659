-- Keystone's `trust_role` table exactly as `keystone-manage db_sync` of Keystone 30.0.0 creates it,
-- as MariaDB 10.11 prints it with SHOW CREATE TABLE. No foreign key to `trust`: deleting a trust
-- leaves its roles behind (Keystone itself never deletes them).
-- tests/openstack/e2e.sh checks this file against a real db_sync; scripts/keystone-schema.sh prints it.
CREATE TABLE `trust_role` (
  `trust_id` varchar(64) NOT NULL,
  `role_id` varchar(64) NOT NULL,
  PRIMARY KEY (`trust_id`,`role_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;
