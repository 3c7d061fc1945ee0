package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Versioned migrations. GORM's AutoMigrate races when several replicas start
// at once and silently follows whatever the live structs say; instead the
// schema moves through numbered steps, each applied once, recorded in
// schema_migrations, under a lock. A step's DDL comes from its own frozen
// row structs (or dialect-specific SQL), never from the live models in
// models.go, so editing a model cannot rewrite history.
//
// To change the schema: append a step with the next version; never edit or
// reorder a step that has shipped.

// sqlMigration is one numbered schema step.
type sqlMigration struct {
	version int
	name    string
	up      func(tx *gorm.DB, dialect string) error
}

// sqlMigrations returns the steps in order. A function rather than a
// package variable, so nothing can modify the list at run time.
func sqlMigrations() []sqlMigration {
	return []sqlMigration{
		{version: 1, name: "initial schema", up: migrateInitialSchema},
		{version: 2, name: "waves and events", up: migrateWavesAndEvents},
		{version: 3, name: "consent per chat", up: migrateConsentPerChat},
	}
}

// schemaMigrationRow records an applied step.
type schemaMigrationRow struct {
	Version   int       `gorm:"primaryKey;autoIncrement:false"`
	Name      string    `gorm:"not null"`
	AppliedAt time.Time `gorm:"not null"`
}

func (schemaMigrationRow) TableName() string { return "schema_migrations" }

// migrationLockKey is the PostgreSQL advisory lock taken while migrating
// (arbitrary, fixed: "cxmigr" in ASCII).
const migrationLockKey int64 = 0x6378_6d69_6772

// Migrate applies the steps not applied yet and returns their versions.
// Replicas may call it at the same time: on PostgreSQL the whole run holds a
// transaction-scoped advisory lock, so the others wait and then find nothing
// to do; on SQLite the write transaction is the lock. PostgreSQL and SQLite
// both have transactional DDL, so a failed step leaves no trace.
func (db *DB) Migrate(ctx context.Context) (applied []int, err error) {
	steps := sqlMigrations()
	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		applied = nil
		if db.dialect == DialectPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockKey).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if !tx.Migrator().HasTable(&schemaMigrationRow{}) {
			if err := tx.Migrator().CreateTable(&schemaMigrationRow{}); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
		}
		var done []int
		if err := tx.Model(&schemaMigrationRow{}).Pluck("version", &done).Error; err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		for _, step := range steps {
			if slices.Contains(done, step.version) {
				continue
			}
			if err := step.up(tx, db.dialect); err != nil {
				return fmt.Errorf("migration %d (%s): %w", step.version, step.name, err)
			}
			row := schemaMigrationRow{Version: step.version, Name: step.name, AppliedAt: sqlTime(db.now())}
			if err := tx.Create(&row).Error; err != nil {
				return fmt.Errorf("record migration %d: %w", step.version, err)
			}
			applied = append(applied, step.version)
		}
		if last := steps[len(steps)-1].version; len(done) > 0 && slices.Max(done) > last {
			// A newer binary migrated this database; this one keeps working
			// as long as the newer steps were additive.
			db.log.WarnContext(ctx, "database schema is newer than this build",
				"schema_version", slices.Max(done), "latest_known", last)
		}
		return nil
	})
	if err != nil {
		return nil, sqlErr("migrate", err)
	}
	for _, v := range applied {
		db.log.InfoContext(ctx, "schema migration applied", "version", v, "dialect", db.dialect)
	}
	return applied, nil
}

// SchemaVersion returns the highest applied step (0 when schema_migrations
// does not exist yet) and the highest step this build knows, so start-up
// and health checks can tell whether a migration is due.
func (db *DB) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	steps := sqlMigrations()
	latest = steps[len(steps)-1].version
	g := db.conn(ctx)
	if !g.Migrator().HasTable(&schemaMigrationRow{}) {
		// HasTable swallows errors; tell "absent" from "unreachable".
		if err := db.Ping(ctx); err != nil {
			return 0, latest, err
		}
		return 0, latest, nil
	}
	if err := g.Model(&schemaMigrationRow{}).Select("COALESCE(MAX(version), 0)").Scan(&current).Error; err != nil {
		return 0, latest, sqlErr("read schema version", err)
	}
	return current, latest, nil
}

// Step 1 row structs, frozen: they describe the schema as step 1 created it.
// Foreign keys come from the belongs-to fields; index names are explicit
// because PostgreSQL needs them unique per schema. Columns have no DEFAULT:
// the store writes every column, and GORM's SQLite DDL would quote string
// defaults as identifiers.

type m001Customer struct {
	ID            int64  `gorm:"primaryKey"`
	Ref           string `gorm:"not null;uniqueIndex:customers_ref_key"`
	Language      string `gorm:"not null"`
	TimeZone      string `gorm:"not null"`
	OptedOutAt    *time.Time
	UnreachableAt *time.Time
	CreatedAt     time.Time `gorm:"not null"`
	UpdatedAt     time.Time `gorm:"not null"`
}

func (m001Customer) TableName() string { return "customers" }

type m001Identity struct {
	ID         int64         `gorm:"primaryKey"`
	CustomerID int64         `gorm:"not null;index:channel_identities_customer_idx"`
	Customer   *m001Customer `gorm:"constraint:OnDelete:CASCADE"`
	Channel    string        `gorm:"not null;uniqueIndex:channel_identities_external_key,priority:1"`
	ExternalID string        `gorm:"not null;uniqueIndex:channel_identities_external_key,priority:2"`
	Username   string        `gorm:"not null"`
	Language   string        `gorm:"not null"`
	LinkedAt   time.Time     `gorm:"not null"`
}

func (m001Identity) TableName() string { return "channel_identities" }

type m001Survey struct {
	SurveyID    string    `gorm:"primaryKey"`
	Version     int       `gorm:"primaryKey;autoIncrement:false"`
	Fingerprint string    `gorm:"not null"`
	Definition  string    `gorm:"not null"`
	CreatedAt   time.Time `gorm:"not null"`
}

func (m001Survey) TableName() string { return "surveys" }

type m001Invitation struct {
	ID            int64         `gorm:"primaryKey"`
	WaveID        string        `gorm:"not null;uniqueIndex:invitations_wave_customer_event_key,priority:1"`
	CustomerID    int64         `gorm:"not null;uniqueIndex:invitations_wave_customer_event_key,priority:2;index:invitations_customer_idx,priority:1"`
	Customer      *m001Customer `gorm:"constraint:OnDelete:CASCADE"`
	EventID       string        `gorm:"not null;uniqueIndex:invitations_wave_customer_event_key,priority:3"`
	SurveyID      string        `gorm:"not null"`
	SurveyVersion int           `gorm:"not null"`
	Channel       string        `gorm:"not null"`
	ExternalID    string        `gorm:"not null"`
	Language      string        `gorm:"not null"`
	Context       string        `gorm:"not null"`
	Status        string        `gorm:"not null;index:invitations_status_idx"`
	Error         string        `gorm:"not null"`
	SentAt        *time.Time
	CreatedAt     time.Time `gorm:"not null;index:invitations_customer_idx,priority:2"`
	UpdatedAt     time.Time `gorm:"not null"`
}

func (m001Invitation) TableName() string { return "invitations" }

type m001Response struct {
	ID            int64           `gorm:"primaryKey"`
	InvitationID  int64           `gorm:"not null;uniqueIndex:responses_invitation_key"`
	Invitation    *m001Invitation `gorm:"constraint:OnDelete:CASCADE"`
	CustomerID    int64           `gorm:"not null"`
	Customer      *m001Customer   `gorm:"constraint:OnDelete:CASCADE"`
	SurveyID      string          `gorm:"not null;index:responses_survey_idx"`
	SurveyVersion int             `gorm:"not null"`
	Channel       string          `gorm:"not null;index:responses_chat_idx,priority:1"`
	ExternalID    string          `gorm:"not null;index:responses_chat_idx,priority:2"`
	Language      string          `gorm:"not null"`
	Status        string          `gorm:"not null;index:responses_chat_idx,priority:3"`
	StartedAt     time.Time       `gorm:"not null"`
	CompletedAt   *time.Time
}

func (m001Response) TableName() string { return "responses" }

type m001Answer struct {
	ID         int64         `gorm:"primaryKey"`
	ResponseID int64         `gorm:"not null;uniqueIndex:answers_response_question_key,priority:1"`
	Response   *m001Response `gorm:"constraint:OnDelete:CASCADE"`
	QuestionID string        `gorm:"not null;uniqueIndex:answers_response_question_key,priority:2"`
	Kind       string        `gorm:"not null"`
	Score      *int
	Choice     string    `gorm:"not null"`
	Text       string    `gorm:"not null"`
	Class      string    `gorm:"not null"`
	Skipped    bool      `gorm:"not null"`
	AnsweredAt time.Time `gorm:"not null;index:answers_answered_idx"`
}

func (m001Answer) TableName() string { return "answers" }

type m001Handoff struct {
	ID          int64         `gorm:"primaryKey"`
	ResponseID  int64         `gorm:"not null;uniqueIndex:handoffs_response_key"`
	Response    *m001Response `gorm:"constraint:OnDelete:CASCADE"`
	CustomerID  int64         `gorm:"not null"`
	Customer    *m001Customer `gorm:"constraint:OnDelete:CASCADE"`
	CustomerRef string        `gorm:"not null"`
	SurveyID    string        `gorm:"not null"`
	QuestionID  string        `gorm:"not null"`
	Kind        string        `gorm:"not null"`
	Score       int           `gorm:"not null"`
	Class       string        `gorm:"not null"`
	Comment     string        `gorm:"not null"`
	Channel     string        `gorm:"not null"`
	ExternalID  string        `gorm:"not null"`
	Context     string        `gorm:"not null"`
	Status      string        `gorm:"not null;index:handoffs_status_idx,priority:1"`
	NotifiedAt  *time.Time
	CreatedAt   time.Time `gorm:"not null;index:handoffs_status_idx,priority:2"`
	UpdatedAt   time.Time `gorm:"not null"`
}

func (m001Handoff) TableName() string { return "handoffs" }

// migrateInitialSchema creates the tables of step 1, parents before children.
func migrateInitialSchema(tx *gorm.DB, _ string) error {
	return tx.Migrator().CreateTable(
		&m001Customer{}, &m001Identity{}, &m001Survey{},
		&m001Invitation{}, &m001Response{}, &m001Answer{}, &m001Handoff{},
	)
}

// Step 2 row structs, frozen: touchpoint events, wave definitions and the
// delivery log. Events are read by touchpoint in seq order (a wave's due
// events, paged) and by touchpoint and time (where a wave's window starts),
// and per customer by time (a segment's latest event). The invitation columns step 2 adds (not_before, attempts,
// reminded_at, claimed_by, claim_until) are plain DDL below.

type m002Event struct {
	Seq            int64         `gorm:"primaryKey;autoIncrement;index:events_touchpoint_seq_idx,priority:2"`
	ID             string        `gorm:"column:id;not null;uniqueIndex:events_id_key"`
	CustomerID     int64         `gorm:"not null;index:events_customer_occurred_idx,priority:1"`
	Customer       *m001Customer `gorm:"constraint:OnDelete:CASCADE"`
	Touchpoint     string        `gorm:"not null;index:events_touchpoint_occurred_idx,priority:1;index:events_touchpoint_seq_idx,priority:1"`
	OccurredAt     time.Time     `gorm:"not null;index:events_touchpoint_occurred_idx,priority:2;index:events_customer_occurred_idx,priority:2"`
	TelegramChatID string        `gorm:"not null"`
	WechatOpenID   string        `gorm:"column:wechat_openid;not null"`
	Language       string        `gorm:"not null"`
	TimeZone       string        `gorm:"not null"`
	Attributes     string        `gorm:"not null"`
	ReceivedAt     time.Time     `gorm:"not null"`
}

func (m002Event) TableName() string { return "events" }

type m002Wave struct {
	ID         string    `gorm:"primaryKey"`
	Definition string    `gorm:"not null"`
	Source     string    `gorm:"not null"`
	Paused     bool      `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null"`
	UpdatedAt  time.Time `gorm:"not null"`
}

func (m002Wave) TableName() string { return "waves" }

type m002DeliveryAttempt struct {
	ID           int64           `gorm:"primaryKey"`
	InvitationID int64           `gorm:"not null;index:delivery_attempts_invitation_idx"`
	Invitation   *m001Invitation `gorm:"constraint:OnDelete:CASCADE"`
	At           time.Time       `gorm:"column:at;not null"`
	Outcome      string          `gorm:"not null"`
	Error        string          `gorm:"not null"`
	RetryAfterMs int64           `gorm:"not null"`
}

func (m002DeliveryAttempt) TableName() string { return "delivery_attempts" }

// migrateWavesAndEvents creates events, waves and delivery_attempts and
// gives invitations what waves need: not_before (when dispatch may send;
// existing rows get their created_at), attempts, reminded_at and the
// dispatcher's lease (claimed_by, claim_until).
//
// Unlike step 1 these columns have DEFAULTs: SQLite cannot add a NOT NULL
// column without one, and on PostgreSQL they let a replica still running
// the step 1 build keep inserting invitations during a rolling upgrade.
// The store itself writes every column.
func migrateWavesAndEvents(tx *gorm.DB, dialect string) error {
	if err := tx.Migrator().CreateTable(&m002Event{}, &m002Wave{}, &m002DeliveryAttempt{}); err != nil {
		return err
	}
	var stmts []string
	if dialect == DialectPostgres {
		stmts = []string{
			`ALTER TABLE invitations ADD COLUMN not_before timestamptz`,
			`UPDATE invitations SET not_before = created_at`,
			`ALTER TABLE invitations ALTER COLUMN not_before SET NOT NULL`,
			`ALTER TABLE invitations ALTER COLUMN not_before SET DEFAULT CURRENT_TIMESTAMP`,
			`ALTER TABLE invitations ADD COLUMN attempts bigint NOT NULL DEFAULT 0`,
			`ALTER TABLE invitations ADD COLUMN reminded_at timestamptz`,
			`ALTER TABLE invitations ADD COLUMN claimed_by text NOT NULL DEFAULT ''`,
			`ALTER TABLE invitations ADD COLUMN claim_until timestamptz`,
		}
	} else {
		// SQLite only accepts a constant default for an added column; the
		// backfill follows at once. The text format is the driver's, so
		// timestamps keep comparing as strings.
		stmts = []string{
			`ALTER TABLE invitations ADD COLUMN not_before datetime NOT NULL DEFAULT '0001-01-01 00:00:00+00:00'`,
			`UPDATE invitations SET not_before = created_at`,
			`ALTER TABLE invitations ADD COLUMN attempts integer NOT NULL DEFAULT 0`,
			`ALTER TABLE invitations ADD COLUMN reminded_at datetime`,
			`ALTER TABLE invitations ADD COLUMN claimed_by text NOT NULL DEFAULT ''`,
			`ALTER TABLE invitations ADD COLUMN claim_until datetime`,
		}
	}
	stmts = append(stmts,
		// The dispatcher's claim query: planned rows by not_before. It
		// serves lookups by status alone too, so step 1's index on status
		// goes: one index less to maintain per planned invitation.
		`CREATE INDEX invitations_status_not_before_idx ON invitations (status, not_before)`,
		`DROP INDEX invitations_status_idx`,
		// Wave counts, reminders and expiries.
		`CREATE INDEX invitations_wave_status_idx ON invitations (wave_id, status)`,
	)
	for _, s := range stmts {
		if err := tx.Exec(s).Error; err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// migrateConsentPerChat puts opt-out and unreachable marks on the chat as
// well as the customer, so a chat that said stop stays stopped when a later
// event links it to another customer reference. Existing marks are copied.
func migrateConsentPerChat(tx *gorm.DB, dialect string) error {
	typ := "datetime"
	if dialect == DialectPostgres {
		typ = "timestamptz"
	}
	for _, stmt := range []string{
		`ALTER TABLE channel_identities ADD COLUMN opted_out_at ` + typ,
		`ALTER TABLE channel_identities ADD COLUMN unreachable_at ` + typ,
		`UPDATE channel_identities SET opted_out_at = (SELECT opted_out_at FROM customers WHERE customers.id = channel_identities.customer_id),
			unreachable_at = (SELECT unreachable_at FROM customers WHERE customers.id = channel_identities.customer_id)`,
	} {
		if err := tx.Exec(stmt).Error; err != nil {
			return err
		}
	}
	return nil
}

// execScript runs a script of several statements as one call on the
// transaction's connection, bypassing GORM's placeholder and named
// parameter parsing: a migration file is run as written.
func execScript(tx *gorm.DB, script string) error {
	_, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, script)
	return err
}
