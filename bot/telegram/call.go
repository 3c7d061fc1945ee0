package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	tgbot "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// The methods of the reply path (sendMessage, the edits, answerCallbackQuery)
// go out as one JSON body with its length, in one write. The SDK streams
// every call as a multipart form through a pipe, chunked, and Go's HTTP
// client flushes each chunk: several syscalls and a goroutine per call,
// on the path every answer takes. The errors are the SDK's own
// (tgbot.ErrorForbidden, *tgbot.TooManyRequestsError, …), so apiError and
// isBadRequest read both alike.

// maxAnswer bounds a Bot API answer read into memory.
const maxAnswer = 16 << 20

func (a *Adapter) callJSON(ctx context.Context, method string, params, dest any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("error encode params for method %s, %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+"/bot"+a.cfg.Token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("error create request for method %s, %w", method, a.redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.calls.Do(req)
	if err != nil {
		return fmt.Errorf("error do request for method %s, %w", method, a.redact(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("error read response body for method %s, %w", method, err)
	}
	var r struct {
		OK          bool            `json:"ok"`
		Result      json.RawMessage `json:"result"`
		ErrorCode   int             `json:"error_code"`
		Description string          `json:"description"`
		Parameters  struct {
			RetryAfter      int `json:"retry_after"`
			MigrateToChatID int `json:"migrate_to_chat_id"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("error decode response body for method %s, HTTP %d, %w", method, resp.StatusCode, err)
	}
	if !r.OK {
		switch r.ErrorCode {
		case http.StatusForbidden:
			return fmt.Errorf("%w, %s", tgbot.ErrorForbidden, r.Description)
		case http.StatusBadRequest:
			if r.Parameters.MigrateToChatID != 0 {
				return &tgbot.MigrateError{Message: fmt.Sprintf("%s: %s", tgbot.ErrorBadRequest, r.Description), MigrateToChatID: r.Parameters.MigrateToChatID}
			}
			return fmt.Errorf("%w, %s", tgbot.ErrorBadRequest, r.Description)
		case http.StatusUnauthorized:
			return fmt.Errorf("%w, %s", tgbot.ErrorUnauthorized, r.Description)
		case http.StatusNotFound:
			return fmt.Errorf("%w, %s", tgbot.ErrorNotFound, r.Description)
		case http.StatusConflict:
			return fmt.Errorf("%w, %s", tgbot.ErrorConflict, r.Description)
		case http.StatusTooManyRequests:
			return &tgbot.TooManyRequestsError{Message: fmt.Sprintf("%s, %s", tgbot.ErrorTooManyRequests, r.Description), RetryAfter: r.Parameters.RetryAfter}
		default:
			return fmt.Errorf("error response from telegram for method %s, %d %s", method, r.ErrorCode, r.Description)
		}
	}
	if dest != nil {
		if err := json.Unmarshal(r.Result, dest); err != nil {
			return fmt.Errorf("error decode response result for method %s, %w", method, err)
		}
	}
	return nil
}

// sendMessage reads only the sent message's id from the answer: nothing
// else of it is used, and decoding the whole Message is reflection over
// some hundred fields.
func (a *Adapter) sendMessage(ctx context.Context, p *tgbot.SendMessageParams) (*models.Message, error) {
	var m struct {
		ID int `json:"message_id"`
	}
	if err := a.callJSON(ctx, "sendMessage", p, &m); err != nil {
		return nil, err
	}
	return &models.Message{ID: m.ID}, nil
}

func (a *Adapter) editMessageText(ctx context.Context, p *tgbot.EditMessageTextParams) error {
	return a.callJSON(ctx, "editMessageText", p, nil)
}

func (a *Adapter) editMessageReplyMarkup(ctx context.Context, p *tgbot.EditMessageReplyMarkupParams) error {
	return a.callJSON(ctx, "editMessageReplyMarkup", p, nil)
}

func (a *Adapter) answerCallbackQuery(ctx context.Context, p *tgbot.AnswerCallbackQueryParams) error {
	return a.callJSON(ctx, "answerCallbackQuery", p, nil)
}
