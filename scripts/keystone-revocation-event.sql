-- Keystone's `revocation_event` table exactly as `keystone-manage db_sync` of Keystone 30.0.0
-- creates it, as MariaDB 10.11 prints it with SHOW CREATE TABLE: the initial Alembic migration's
-- table plus the two indexes of the 2026.1 expand migration 742c857f1dfb (the last two). The
-- initial migration's indexes come out of db_sync in no fixed order (alembic walks a Python set);
-- they are listed here in the order the migration declares them.
-- tests/openstack/e2e.sh checks this file against a real db_sync; scripts/keystone-schema.sh prints it.
CREATE TABLE `revocation_event` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `domain_id` varchar(64) DEFAULT NULL,
  `project_id` varchar(64) DEFAULT NULL,
  `user_id` varchar(64) DEFAULT NULL,
  `role_id` varchar(64) DEFAULT NULL,
  `trust_id` varchar(64) DEFAULT NULL,
  `consumer_id` varchar(64) DEFAULT NULL,
  `access_token_id` varchar(64) DEFAULT NULL,
  `issued_before` datetime NOT NULL,
  `expires_at` datetime DEFAULT NULL,
  `revoked_at` datetime NOT NULL,
  `audit_id` varchar(32) DEFAULT NULL,
  `audit_chain_id` varchar(32) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `ix_revocation_event_new_revoked_at` (`revoked_at`),
  KEY `ix_revocation_event_issued_before` (`issued_before`),
  KEY `ix_revocation_event_project_id_issued_before` (`project_id`,`issued_before`),
  KEY `ix_revocation_event_user_id_issued_before` (`user_id`,`issued_before`),
  KEY `ix_revocation_event_audit_id_issued_before` (`audit_id`,`issued_before`),
  KEY `ix_revocation_event_project_id_user_id` (`project_id`,`user_id`),
  KEY `ix_revocation_event_composite` (`issued_before`,`user_id`,`project_id`,`audit_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb3 COLLATE=utf8mb3_general_ci;
