package flows

import "time"

// Turn is one step's exclusive hold on a chat's conversation: what the
// state store found when the step began (was the update applied already,
// the chat's state) and the lease that proves the hold when the step ends.
// Every change to a chat's conversation happens inside a turn, so two
// updates of one chat are never applied at once, on any replica, and the
// store's round trips for one update are the two that begin and end it.
type Turn struct {
	Channel  Channel
	ChatID   string
	UpdateID string // the platform's id of the update; "" for a step cxbot starts (an invitation, a reminder)
	Seen     bool   // the update was applied before: the turn is already over, nothing to do
	State    State  // the chat's conversation, when HasState
	HasState bool
	// Recalled: the store had forgotten the state and it was rebuilt from
	// SQL, where every step keeps it.
	Recalled bool
	// OverLimit: the chat is over its inbound limit; the update is to be
	// acknowledged and dropped, and the turn is already over.
	OverLimit bool
	Lease     string // opaque to everyone but the store
}

// StateChange says what ending a turn does to the chat's state.
type StateChange int

const (
	KeepState   StateChange = iota // the step did not touch the conversation (a /help, a refused link)
	SaveState                      // the conversation moved on: store TurnEnd.State
	DeleteState                    // the conversation ended (finished, expired, stopped)
)

// TurnEnd is how a step ends its turn: the state change, and the marks that
// go with it, written together in one round trip.
type TurnEnd struct {
	Change   StateChange
	State    State
	StateTTL time.Duration // with SaveState: an idle conversation expires after it
	// SeenTTL remembers the turn's update as applied for that long (0: not
	// remembered; a turn without UpdateID has nothing to remember).
	SeenTTL time.Duration
	// WindowTTL, when positive, (re)opens the chat's customer-service window
	// for that long: the customer wrote to us (WeChat's 48 hours).
	WindowTTL time.Duration
}

// Keep is the end of a turn that changed nothing of the conversation.
func Keep() TurnEnd { return TurnEnd{Change: KeepState} }

// Save is the end of a turn that moved the conversation to st.
func Save(st State) TurnEnd { return TurnEnd{Change: SaveState, State: st} }

// Delete is the end of a turn that ended the conversation.
func Delete() TurnEnd { return TurnEnd{Change: DeleteState} }
