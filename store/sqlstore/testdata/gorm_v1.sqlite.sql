-- A version-1 cxbot database on SQLite, as the GORM-built migrations left it
-- (commit 4fee7e4: gorm v1.31.2, github.com/glebarez/sqlite v1.11.0, frozen row
-- structs and tx.Migrator().CreateTable): step 1 only, with rows in every
-- table written through GORM with the step-1 row structs, as that build did.
-- Dumped with sqlite3 .dump; PRAGMA foreign_keys=OFF, BEGIN and COMMIT removed.
-- The code that produced it is gone: do not regenerate, this is what
-- installations in the field have. TestSQLUpgradeFromGORMBuild loads it.
CREATE TABLE `schema_migrations` (`version` integer,`name` text NOT NULL,`applied_at` datetime NOT NULL,PRIMARY KEY (`version`));
INSERT INTO schema_migrations VALUES(1,'initial schema','2025-03-01 10:00:00+00:00');
CREATE TABLE `customers` (`id` integer PRIMARY KEY AUTOINCREMENT,`ref` text NOT NULL,`language` text NOT NULL,`time_zone` text NOT NULL,`opted_out_at` datetime,`unreachable_at` datetime,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL);
INSERT INTO customers VALUES(1,'old-1','en','Europe/Berlin',NULL,NULL,'2025-03-01 11:00:00+00:00','2025-03-01 11:00:00+00:00');
INSERT INTO customers VALUES(2,'old-2','zh-CN','','2025-03-01 11:30:00+00:00',NULL,'2025-03-01 11:00:00+00:00','2025-03-01 11:30:00+00:00');
CREATE TABLE `channel_identities` (`id` integer PRIMARY KEY AUTOINCREMENT,`customer_id` integer NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`username` text NOT NULL,`language` text NOT NULL,`linked_at` datetime NOT NULL,CONSTRAINT `fk_channel_identities_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO channel_identities VALUES(1,1,'telegram','7','anna','en','2025-03-01 11:00:00+00:00');
INSERT INTO channel_identities VALUES(2,2,'wechat','oXyZ','','zh-CN','2025-03-01 11:00:00+00:00');
CREATE TABLE `surveys` (`survey_id` text,`version` integer,`fingerprint` text NOT NULL,`definition` text NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`survey_id`,`version`));
INSERT INTO surveys VALUES('delivery',1,'f1','{"id":"delivery"}','2025-03-01 11:00:00+00:00');
CREATE TABLE `invitations` (`id` integer PRIMARY KEY AUTOINCREMENT,`wave_id` text NOT NULL,`customer_id` integer NOT NULL,`event_id` text NOT NULL,`survey_id` text NOT NULL,`survey_version` integer NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`language` text NOT NULL,`context` text NOT NULL,`status` text NOT NULL,`error` text NOT NULL,`sent_at` datetime,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,CONSTRAINT `fk_invitations_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO invitations VALUES(1,'api',1,'e1','delivery',1,'telegram','7','en','{"order":"A-1"}','completed','','2025-03-01 11:01:00+00:00','2025-03-01 11:00:00+00:00','2025-03-01 11:01:00+00:00');
INSERT INTO invitations VALUES(2,'w_old',1,'e2','delivery',1,'telegram','7','en','{}','planned','',NULL,'2025-03-01 11:00:01+00:00','2025-03-01 11:00:00+00:00');
CREATE TABLE `responses` (`id` integer PRIMARY KEY AUTOINCREMENT,`invitation_id` integer NOT NULL,`customer_id` integer NOT NULL,`survey_id` text NOT NULL,`survey_version` integer NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`language` text NOT NULL,`status` text NOT NULL,`started_at` datetime NOT NULL,`completed_at` datetime,CONSTRAINT `fk_responses_invitation` FOREIGN KEY (`invitation_id`) REFERENCES `invitations`(`id`) ON DELETE CASCADE,CONSTRAINT `fk_responses_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO responses VALUES(1,1,1,'delivery',1,'telegram','7','en','completed','2025-03-01 11:01:00+00:00','2025-03-01 11:03:00+00:00');
CREATE TABLE `answers` (`id` integer PRIMARY KEY AUTOINCREMENT,`response_id` integer NOT NULL,`question_id` text NOT NULL,`kind` text NOT NULL,`score` integer,`choice` text NOT NULL,`text` text NOT NULL,`class` text NOT NULL,`skipped` numeric NOT NULL,`answered_at` datetime NOT NULL,CONSTRAINT `fk_answers_response` FOREIGN KEY (`response_id`) REFERENCES `responses`(`id`) ON DELETE CASCADE);
INSERT INTO answers VALUES(1,1,'nps','nps',2,'','','detractor',0,'2025-03-01 11:02:00+00:00');
INSERT INTO answers VALUES(2,1,'why','text',NULL,'','slow','',0,'2025-03-01 11:03:00+00:00');
CREATE TABLE `handoffs` (`id` integer PRIMARY KEY AUTOINCREMENT,`response_id` integer NOT NULL,`customer_id` integer NOT NULL,`customer_ref` text NOT NULL,`survey_id` text NOT NULL,`question_id` text NOT NULL,`kind` text NOT NULL,`score` integer NOT NULL,`class` text NOT NULL,`comment` text NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`context` text NOT NULL,`status` text NOT NULL,`notified_at` datetime,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,CONSTRAINT `fk_handoffs_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE,CONSTRAINT `fk_handoffs_response` FOREIGN KEY (`response_id`) REFERENCES `responses`(`id`) ON DELETE CASCADE);
INSERT INTO handoffs VALUES(1,1,1,'old-1','delivery','nps','nps',2,'detractor','slow','telegram','7','{"order":"A-1"}','open','2025-03-01 11:03:00+00:00','2025-03-01 11:02:00+00:00','2025-03-01 11:03:00+00:00');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('customers',2);
INSERT INTO sqlite_sequence VALUES('channel_identities',2);
INSERT INTO sqlite_sequence VALUES('invitations',2);
INSERT INTO sqlite_sequence VALUES('responses',1);
INSERT INTO sqlite_sequence VALUES('answers',2);
INSERT INTO sqlite_sequence VALUES('handoffs',1);
CREATE UNIQUE INDEX `customers_ref_key` ON `customers`(`ref`);
CREATE UNIQUE INDEX `channel_identities_external_key` ON `channel_identities`(`channel`,`external_id`);
CREATE INDEX `channel_identities_customer_idx` ON `channel_identities`(`customer_id`);
CREATE INDEX `invitations_status_idx` ON `invitations`(`status`);
CREATE INDEX `invitations_customer_idx` ON `invitations`(`customer_id`,`created_at`);
CREATE UNIQUE INDEX `invitations_wave_customer_event_key` ON `invitations`(`wave_id`,`customer_id`,`event_id`);
CREATE INDEX `responses_chat_idx` ON `responses`(`channel`,`external_id`,`status`);
CREATE INDEX `responses_survey_idx` ON `responses`(`survey_id`);
CREATE UNIQUE INDEX `responses_invitation_key` ON `responses`(`invitation_id`);
CREATE INDEX `answers_answered_idx` ON `answers`(`answered_at`);
CREATE UNIQUE INDEX `answers_response_question_key` ON `answers`(`response_id`,`question_id`);
CREATE INDEX `handoffs_status_idx` ON `handoffs`(`status`,`created_at`);
CREATE UNIQUE INDEX `handoffs_response_key` ON `handoffs`(`response_id`);
