package sqlstore

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cxbot/cxbot/flows"
)

// SaveWave inserts or updates the wave with w.ID and returns it as stored.
// An update changes the definition and source (and updated_at, only when
// one of them changed, so reloading the same files changes nothing); it
// keeps the stored Paused flag, which only SetWavePaused moves. A new wave
// is stored with w.Paused. CreatedAt and UpdatedAt default to now.
func (db *DB) SaveWave(ctx context.Context, w flows.WaveRecord) (flows.WaveRecord, error) {
	op := "save wave " + w.ID
	switch {
	case w.ID == "":
		return flows.WaveRecord{}, fmt.Errorf("save wave: %w: id is required", flows.ErrInvalid)
	case !w.Source.Valid():
		return flows.WaveRecord{}, fmt.Errorf("%s: %w: source %q must be %q or %q", op, flows.ErrInvalid, w.Source, flows.WaveSourceFile, flows.WaveSourceAPI)
	}
	now := db.at(time.Time{})
	row := waveRow{
		ID:         w.ID,
		Definition: w.Definition,
		Source:     w.Source,
		Paused:     w.Paused,
		CreatedAt:  orTime(w.CreatedAt, now),
		UpdatedAt:  orTime(w.UpdatedAt, now),
	}
	upsert := clause.OnConflict{
		Columns: []clause.Column{{Name: "id"}},
		DoUpdates: clause.Set{
			{Column: clause.Column{Name: "definition"}, Value: gorm.Expr("excluded.definition")},
			{Column: clause.Column{Name: "source"}, Value: gorm.Expr("excluded.source")},
			{Column: clause.Column{Name: "updated_at"}, Value: gorm.Expr("excluded.updated_at")},
		},
		Where: clause.Where{Exprs: []clause.Expression{
			gorm.Expr("waves.definition <> excluded.definition OR waves.source <> excluded.source"),
		}},
	}
	var out waveRow
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(upsert).Create(&row).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", w.ID).Take(&out).Error
	})
	if err != nil {
		return flows.WaveRecord{}, sqlErr(op, err)
	}
	return out.record(), nil
}

// Waves returns every stored wave, by id.
func (db *DB) Waves(ctx context.Context) ([]flows.WaveRecord, error) {
	var rows []waveRow
	if err := db.conn(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, sqlErr("list waves", err)
	}
	out := make([]flows.WaveRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

// Wave returns the wave with this id.
func (db *DB) Wave(ctx context.Context, id string) (flows.WaveRecord, error) {
	var row waveRow
	if err := db.conn(ctx).Where("id = ?", id).Take(&row).Error; err != nil {
		return flows.WaveRecord{}, sqlErr("wave "+id, err)
	}
	return row.record(), nil
}

// SetWavePaused pauses or resumes a wave: dispatchers do not claim the
// invitations of a paused wave (ClaimInvitations). ErrNotFound for an
// unknown wave.
func (db *DB) SetWavePaused(ctx context.Context, id string, paused bool) error {
	op := fmt.Sprintf("set wave %s paused=%t", id, paused)
	res := db.conn(ctx).Model(&waveRow{}).Where("id = ?", id).
		Updates(map[string]any{"paused": paused, "updated_at": db.at(time.Time{})})
	if res.Error != nil {
		return sqlErr(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s: %w", op, flows.ErrNotFound)
	}
	return nil
}

// CreateWave stores a new wave and fails with ErrConflict when the id is
// taken, so two API calls racing with one id cannot both succeed.
func (db *DB) CreateWave(ctx context.Context, w flows.WaveRecord) (flows.WaveRecord, error) {
	op := "create wave " + w.ID
	if w.ID == "" || (w.Source != flows.WaveSourceFile && w.Source != flows.WaveSourceAPI) {
		return flows.WaveRecord{}, fmt.Errorf("%s: %w: id and a source of %q or %q are required", op, flows.ErrInvalid, flows.WaveSourceFile, flows.WaveSourceAPI)
	}
	now := db.at(time.Time{})
	row := waveRow{ID: w.ID, Definition: w.Definition, Source: w.Source, Paused: w.Paused, CreatedAt: now, UpdatedAt: now}
	res := db.conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).Create(&row)
	if res.Error != nil {
		return flows.WaveRecord{}, sqlErr(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return flows.WaveRecord{}, fmt.Errorf("%s: %w: wave %q exists", op, flows.ErrConflict, w.ID)
	}
	return row.record(), nil
}
