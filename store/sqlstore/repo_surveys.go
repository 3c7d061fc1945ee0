package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/cxbot/cxbot/flows"
)

// saveSurveyAttempts bounds the retries when replicas race to store a new
// version; each lost race means another replica just wrote one.
const saveSurveyAttempts = 5

// SaveSurvey records a survey definition and returns its version: the latest
// stored version when the definition is unchanged, otherwise latest+1 (1 for
// a new survey). Responses keep the version they were started with, so
// reports can tell answers to different wordings apart. Replicas loading the
// same files at once agree on the version: a lost insert race is retried
// against what the winner wrote. s is not modified.
func (db *DB) SaveSurvey(ctx context.Context, s *flows.Survey) (version int, err error) {
	if s == nil || s.ID == "" {
		return 0, fmt.Errorf("save survey: %w: survey id is required", flows.ErrInvalid)
	}
	fp, err := surveyFingerprint(s)
	if err != nil {
		return 0, fmt.Errorf("save survey %s: %w", s.ID, err)
	}
	g := db.conn(ctx)
	for range saveSurveyAttempts {
		var latest surveyRow
		err := g.Where("survey_id = ?", s.ID).Order("version DESC").Take(&latest).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			latest = surveyRow{}
		case err != nil:
			return 0, sqlErr("save survey "+s.ID, err)
		case latest.Fingerprint == fp:
			return latest.Version, nil
		}

		def := *s
		def.Version = latest.Version + 1
		body, err := json.Marshal(&def)
		if err != nil {
			return 0, fmt.Errorf("save survey %s: %w", s.ID, err)
		}
		row := surveyRow{
			SurveyID:    s.ID,
			Version:     def.Version,
			Fingerprint: fp,
			Definition:  string(body),
			CreatedAt:   db.at(db.now()),
		}
		res := g.Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return 0, sqlErr("save survey "+s.ID, res.Error)
		}
		if res.RowsAffected == 1 {
			return def.Version, nil
		}
		// Another replica stored this version first: look again.
	}
	return 0, fmt.Errorf("save survey %s: %w: version kept changing under %d attempts",
		s.ID, flows.ErrConflict, saveSurveyAttempts)
}

// surveyFingerprint hashes the definition without Version (assigned here)
// and Source (a file path that says nothing about the questions), so the
// same survey loaded from another path or replica keeps its version.
func surveyFingerprint(s *flows.Survey) (string, error) {
	c := *s
	c.Version = 0
	c.Source = ""
	body, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}
