-- A version-3 cxbot database on SQLite, as the GORM-built migrations left it
-- (commit 4fee7e4: gorm v1.31.2, github.com/glebarez/sqlite v1.11.0, frozen row
-- structs and tx.Migrator().CreateTable): steps 1-3, with rows in every
-- table written through that build's repository methods.
-- Dumped with sqlite3 .dump; PRAGMA foreign_keys=OFF, BEGIN and COMMIT removed.
-- The code that produced it is gone: do not regenerate, this is what
-- installations in the field have. TestSQLUpgradeFromGORMBuild loads it.
CREATE TABLE `schema_migrations` (`version` integer,`name` text NOT NULL,`applied_at` datetime NOT NULL,PRIMARY KEY (`version`));
INSERT INTO schema_migrations VALUES(1,'initial schema','2025-03-01 12:00:00+00:00');
INSERT INTO schema_migrations VALUES(2,'waves and events','2025-03-01 12:00:00+00:00');
INSERT INTO schema_migrations VALUES(3,'consent per chat','2025-03-01 12:00:00+00:00');
CREATE TABLE `customers` (`id` integer PRIMARY KEY AUTOINCREMENT,`ref` text NOT NULL,`language` text NOT NULL,`time_zone` text NOT NULL,`opted_out_at` datetime,`unreachable_at` datetime,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL);
INSERT INTO customers VALUES(1,'C-1','zh-CN','Asia/Shanghai',NULL,NULL,'2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00');
INSERT INTO customers VALUES(2,'C-2','en','Europe/Berlin','2025-03-01 12:05:00+00:00',NULL,'2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00');
CREATE TABLE `channel_identities` (`id` integer PRIMARY KEY AUTOINCREMENT,`customer_id` integer NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`username` text NOT NULL,`language` text NOT NULL,`linked_at` datetime NOT NULL, opted_out_at datetime, unreachable_at datetime,CONSTRAINT `fk_channel_identities_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO channel_identities VALUES(1,1,'telegram','42','','','2025-03-01 12:00:00+00:00',NULL,NULL);
INSERT INTO channel_identities VALUES(2,2,'telegram','43','','','2025-03-01 12:00:00+00:00','2025-03-01 12:05:00+00:00',NULL);
INSERT INTO channel_identities VALUES(3,1,'wechat','oAbC','','','2025-03-01 12:00:00+00:00',NULL,NULL);
CREATE TABLE `surveys` (`survey_id` text,`version` integer,`fingerprint` text NOT NULL,`definition` text NOT NULL,`created_at` datetime NOT NULL,PRIMARY KEY (`survey_id`,`version`));
INSERT INTO surveys VALUES('delivery',1,'45d16f532b80808c9b4066f54abd3ffcf784bfff737fc3c7aefd17e0939a6ce6','{"ID":"delivery","Version":1,"Title":{"en":"How did we do?","zh-CN":"我们做得怎么样？"},"DefaultLanguage":"en","Questions":[{"ID":"nps","Kind":"nps","Prompt":{"en":"Recommend us?"},"Options":null,"Next":"why","Branches":[{"When":"detractor","Goto":"why"}],"Optional":false},{"ID":"why","Kind":"text","Prompt":{"en":"Why?"},"Options":null,"Next":"","Branches":null,"Optional":true}],"Thresholds":{"NPSDetractorMax":0,"NPSPromoterMin":0,"CSATDetractorMax":0,"CSATSatisfiedMin":0,"CESDetractorMin":0,"CESEasyMax":0},"Messages":{"Intro":null,"Thanks":null,"Handoff":null,"Expired":null,"Reprompt":null},"WeChatTemplate":null,"Source":"configs/surveys/delivery.yaml"}','2025-03-01 12:00:00+00:00');
CREATE TABLE `invitations` (`id` integer PRIMARY KEY AUTOINCREMENT,`wave_id` text NOT NULL,`customer_id` integer NOT NULL,`event_id` text NOT NULL,`survey_id` text NOT NULL,`survey_version` integer NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`language` text NOT NULL,`context` text NOT NULL,`status` text NOT NULL,`error` text NOT NULL,`sent_at` datetime,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL, not_before datetime NOT NULL DEFAULT '0001-01-01 00:00:00+00:00', attempts integer NOT NULL DEFAULT 0, reminded_at datetime, claimed_by text NOT NULL DEFAULT '', claim_until datetime,CONSTRAINT `fk_invitations_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO invitations VALUES(1,'w-delivery',1,'ord-1001-delivered','delivery',1,'telegram','42','zh-CN','{"order_id":"1001"}','completed','','2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00','2025-03-01 12:03:00+00:00','2025-03-01 11:59:00+00:00',1,NULL,'',NULL);
INSERT INTO invitations VALUES(2,'w-delivery',2,'ord-1002-delivered','delivery',1,'telegram','43','en','{}','planned','429 Too Many Requests',NULL,'2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00','2025-03-01 12:00:30+00:00',1,NULL,'',NULL);
INSERT INTO invitations VALUES(3,'api',2,'api-1','delivery',1,'telegram','43','en','{}','sent','','2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00',0,NULL,'',NULL);
CREATE TABLE `responses` (`id` integer PRIMARY KEY AUTOINCREMENT,`invitation_id` integer NOT NULL,`customer_id` integer NOT NULL,`survey_id` text NOT NULL,`survey_version` integer NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`language` text NOT NULL,`status` text NOT NULL,`started_at` datetime NOT NULL,`completed_at` datetime,CONSTRAINT `fk_responses_invitation` FOREIGN KEY (`invitation_id`) REFERENCES `invitations`(`id`) ON DELETE CASCADE,CONSTRAINT `fk_responses_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO responses VALUES(1,1,1,'delivery',1,'telegram','42','zh-CN','completed','2025-03-01 12:01:00+00:00','2025-03-01 12:03:00+00:00');
CREATE TABLE `answers` (`id` integer PRIMARY KEY AUTOINCREMENT,`response_id` integer NOT NULL,`question_id` text NOT NULL,`kind` text NOT NULL,`score` integer,`choice` text NOT NULL,`text` text NOT NULL,`class` text NOT NULL,`skipped` numeric NOT NULL,`answered_at` datetime NOT NULL,CONSTRAINT `fk_answers_response` FOREIGN KEY (`response_id`) REFERENCES `responses`(`id`) ON DELETE CASCADE);
INSERT INTO answers VALUES(1,1,'nps','nps',3,'','','detractor',0,'2025-03-01 12:02:00+00:00');
INSERT INTO answers VALUES(2,1,'why','text',NULL,'','late and cold','',0,'2025-03-01 12:03:00+00:00');
CREATE TABLE `handoffs` (`id` integer PRIMARY KEY AUTOINCREMENT,`response_id` integer NOT NULL,`customer_id` integer NOT NULL,`customer_ref` text NOT NULL,`survey_id` text NOT NULL,`question_id` text NOT NULL,`kind` text NOT NULL,`score` integer NOT NULL,`class` text NOT NULL,`comment` text NOT NULL,`channel` text NOT NULL,`external_id` text NOT NULL,`context` text NOT NULL,`status` text NOT NULL,`notified_at` datetime,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,CONSTRAINT `fk_handoffs_response` FOREIGN KEY (`response_id`) REFERENCES `responses`(`id`) ON DELETE CASCADE,CONSTRAINT `fk_handoffs_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO handoffs VALUES(1,1,1,'C-1','delivery','nps','nps',3,'detractor','late and cold','telegram','42','{"order_id":"1001"}','open','2025-03-01 12:04:00+00:00','2025-03-01 12:02:00+00:00','2025-03-01 12:04:00+00:00');
CREATE TABLE `events` (`seq` integer PRIMARY KEY AUTOINCREMENT,`id` text NOT NULL,`customer_id` integer NOT NULL,`touchpoint` text NOT NULL,`occurred_at` datetime NOT NULL,`telegram_chat_id` text NOT NULL,`wechat_openid` text NOT NULL,`language` text NOT NULL,`time_zone` text NOT NULL,`attributes` text NOT NULL,`received_at` datetime NOT NULL,CONSTRAINT `fk_events_customer` FOREIGN KEY (`customer_id`) REFERENCES `customers`(`id`) ON DELETE CASCADE);
INSERT INTO events VALUES(1,'ord-1001-delivered',1,'purchase','2025-03-01 10:00:00+00:00','42','oAbC','zh-CN','Asia/Shanghai','{"order_id":"1001","store":"SH-01"}','2025-03-01 12:00:00+00:00');
INSERT INTO events VALUES(2,'ord-1002-delivered',2,'purchase','2025-03-01 11:00:00+00:00','43','','en','Europe/Berlin','{}','2025-03-01 12:00:00+00:00');
CREATE TABLE `waves` (`id` text,`definition` text NOT NULL,`source` text NOT NULL,`paused` numeric NOT NULL,`created_at` datetime NOT NULL,`updated_at` datetime NOT NULL,PRIMARY KEY (`id`));
INSERT INTO waves VALUES('w-delivery',replace('id: w-delivery\nsurvey: delivery\n','\n',char(10)),'file',0,'2025-03-01 12:00:00+00:00','2025-03-01 12:00:00+00:00');
CREATE TABLE `delivery_attempts` (`id` integer PRIMARY KEY AUTOINCREMENT,`invitation_id` integer NOT NULL,`at` datetime NOT NULL,`outcome` text NOT NULL,`error` text NOT NULL,`retry_after_ms` integer NOT NULL,CONSTRAINT `fk_delivery_attempts_invitation` FOREIGN KEY (`invitation_id`) REFERENCES `invitations`(`id`) ON DELETE CASCADE);
INSERT INTO delivery_attempts VALUES(1,1,'2025-03-01 12:00:00+00:00','sent','',0);
INSERT INTO delivery_attempts VALUES(2,2,'2025-03-01 12:00:00+00:00','rate_limited','429 Too Many Requests',30000);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('customers',2);
INSERT INTO sqlite_sequence VALUES('channel_identities',3);
INSERT INTO sqlite_sequence VALUES('events',2);
INSERT INTO sqlite_sequence VALUES('invitations',3);
INSERT INTO sqlite_sequence VALUES('delivery_attempts',2);
INSERT INTO sqlite_sequence VALUES('responses',1);
INSERT INTO sqlite_sequence VALUES('answers',2);
INSERT INTO sqlite_sequence VALUES('handoffs',1);
CREATE UNIQUE INDEX `customers_ref_key` ON `customers`(`ref`);
CREATE UNIQUE INDEX `channel_identities_external_key` ON `channel_identities`(`channel`,`external_id`);
CREATE INDEX `channel_identities_customer_idx` ON `channel_identities`(`customer_id`);
CREATE INDEX `invitations_customer_idx` ON `invitations`(`customer_id`,`created_at`);
CREATE UNIQUE INDEX `invitations_wave_customer_event_key` ON `invitations`(`wave_id`,`customer_id`,`event_id`);
CREATE INDEX `responses_chat_idx` ON `responses`(`channel`,`external_id`,`status`);
CREATE INDEX `responses_survey_idx` ON `responses`(`survey_id`);
CREATE UNIQUE INDEX `responses_invitation_key` ON `responses`(`invitation_id`);
CREATE INDEX `answers_answered_idx` ON `answers`(`answered_at`);
CREATE UNIQUE INDEX `answers_response_question_key` ON `answers`(`response_id`,`question_id`);
CREATE INDEX `handoffs_status_idx` ON `handoffs`(`status`,`created_at`);
CREATE UNIQUE INDEX `handoffs_response_key` ON `handoffs`(`response_id`);
CREATE INDEX `events_touchpoint_occurred_idx` ON `events`(`touchpoint`,`occurred_at`);
CREATE INDEX `events_customer_occurred_idx` ON `events`(`customer_id`,`occurred_at`);
CREATE UNIQUE INDEX `events_id_key` ON `events`(`id`);
CREATE INDEX `events_touchpoint_seq_idx` ON `events`(`touchpoint`,`seq`);
CREATE INDEX `delivery_attempts_invitation_idx` ON `delivery_attempts`(`invitation_id`);
CREATE INDEX invitations_status_not_before_idx ON invitations (status, not_before);
CREATE INDEX invitations_wave_status_idx ON invitations (wave_id, status);
