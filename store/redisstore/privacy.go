package redisstore

import (
	"context"

	"github.com/cxbot/cxbot/flows"
)

// ForgetChat deletes a chat's conversation state and answer window (an
// erased customer's chat): the next update starts from nothing. The lease
// and the seen-update markers name no one and expire by themselves.
func (r *Store) ForgetChat(ctx context.Context, ch flows.Channel, chatID string) error {
	op := "forget chat " + string(ch) + ":" + chatID
	if err := checkIDs(op, ch, chatID); err != nil {
		return err
	}
	keys := r.chatKeys(ch, chatID)
	if err := r.client.Del(ctx, keys.state(), keys.window()).Err(); err != nil {
		return redisErr(op, err)
	}
	return nil
}
