package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/cxbot/cxbot/flows"
)

// SyncFileWaves makes the stored file waves exactly recs, in one
// transaction: each is inserted or updated (a retired one whose file came
// back is active again; the paused flag is kept), and every other file wave
// is retired. Nothing changes when one of recs has the id of an API wave
// (ErrConflict). It returns the ids it retired.
func (db *DB) SyncFileWaves(ctx context.Context, recs []flows.WaveRecord) (retired []string, err error) {
	now := db.at(time.Time{})
	ids := make([]string, 0, len(recs))
	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		retired = nil
		for _, r := range recs {
			var cur waveRow
			err := tx.Where("id = ?", r.ID).Take(&cur).Error
			switch {
			case errors.Is(err, gorm.ErrRecordNotFound):
				row := waveRow{ID: r.ID, Definition: r.Definition, Source: flows.WaveSourceFile, CreatedAt: now, UpdatedAt: now}
				if err := tx.Create(&row).Error; err != nil {
					return err
				}
			case err != nil:
				return err
			case cur.Source != flows.WaveSourceFile:
				return fmt.Errorf("%w: wave %q was created through the API: give the file's wave another id, or retire the API wave and remove it from the database", flows.ErrConflict, r.ID)
			case cur.Definition != r.Definition || cur.RetiredAt != nil:
				if err := tx.Model(&waveRow{}).Where("id = ?", r.ID).
					Updates(map[string]any{"definition": r.Definition, "retired_at": nil, "updated_at": now}).Error; err != nil {
					return err
				}
			}
			ids = append(ids, r.ID)
		}
		gone := tx.Model(&waveRow{}).Where("source = ? AND retired_at IS NULL", flows.WaveSourceFile)
		if len(ids) > 0 {
			gone = gone.Where("id NOT IN ?", ids)
		}
		if err := gone.Pluck("id", &retired).Error; err != nil {
			return err
		}
		for _, id := range retired {
			if err := retireWave(tx, id, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, sqlErr("sync file waves", err)
	}
	return retired, nil
}

// PutWave stores an API wave under w.ID, creating it or replacing its
// definition (a retired wave is active again; the paused flag is kept).
// A file wave cannot be replaced through the API (ErrConflict): its file
// would bring it back at the next start.
func (db *DB) PutWave(ctx context.Context, w flows.WaveRecord) (rec flows.WaveRecord, created bool, err error) {
	op := "put wave " + w.ID
	now := db.at(time.Time{})
	var cur waveRow
	err = db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		created = false
		err := tx.Where("id = ?", w.ID).Take(&cur).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			created = true
			cur = waveRow{ID: w.ID, Definition: w.Definition, Source: flows.WaveSourceAPI, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&cur).Error; err != nil {
				return err
			}
		case err != nil:
			return err
		case cur.Source != flows.WaveSourceAPI:
			return fmt.Errorf("%w: wave %q comes from a file: edit the file instead", flows.ErrConflict, w.ID)
		default:
			if err := tx.Model(&waveRow{}).Where("id = ?", w.ID).
				Updates(map[string]any{"definition": w.Definition, "retired_at": nil, "updated_at": now}).Error; err != nil {
				return err
			}
		}
		return tx.Where("id = ?", w.ID).Take(&cur).Error
	})
	if err != nil {
		return flows.WaveRecord{}, false, sqlErr(op, err)
	}
	return cur.record(), created, nil
}

// RetireWave retires an API wave: it plans, reminds and sends nothing more
// (its planned invitations not being sent right now are skipped with
// flows.ReasonWaveRetired), and its history stays. Retiring a retired wave changes
// nothing. ErrNotFound for an unknown wave; ErrConflict for a file wave,
// which is retired by removing its file.
func (db *DB) RetireWave(ctx context.Context, id string) (flows.WaveRecord, error) {
	op := "retire wave " + id
	now := db.at(time.Time{})
	err := db.conn(ctx).Transaction(func(tx *gorm.DB) error {
		var cur waveRow
		if err := tx.Where("id = ?", id).Take(&cur).Error; err != nil {
			return err
		}
		if cur.Source != flows.WaveSourceAPI {
			return fmt.Errorf("%w: wave %q comes from a file: remove the file to retire it", flows.ErrConflict, id)
		}
		if cur.RetiredAt != nil {
			return nil
		}
		return retireWave(tx, id, now)
	})
	if err != nil {
		return flows.WaveRecord{}, sqlErr(op, err)
	}
	return db.Wave(ctx, id)
}

// retireWave marks the wave retired and skips its planned invitations that
// no dispatcher holds; one a dispatcher holds is not sent either, since
// ClaimInvitations and the dispatcher's wave lookup skip retired waves.
func retireWave(tx *gorm.DB, id string, now time.Time) error {
	if err := tx.Model(&waveRow{}).Where("id = ?", id).
		Updates(map[string]any{"retired_at": sqlTime(now), "updated_at": sqlTime(now)}).Error; err != nil {
		return err
	}
	return tx.Model(&invitationRow{}).
		Where("wave_id = ? AND status = ? AND (claim_until IS NULL OR claim_until < ?)", id, flows.InvitationPlanned, sqlTime(now)).
		Updates(map[string]any{"status": flows.InvitationSkipped, "error": flows.ReasonWaveRetired, "updated_at": sqlTime(now)}).Error
}
