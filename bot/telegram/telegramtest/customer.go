package telegramtest

import "fmt"

// TapButton is a customer tapping the button labelled label on the newest
// message in the chat that still shows a keyboard, as a person would.
func (s *Server) TapButton(chatID int64, label string) (Update, error) {
	sent := s.Sent(chatID)
	for i := len(sent) - 1; i >= 0; i-- {
		if len(sent[i].Keyboard) == 0 {
			continue
		}
		for _, row := range sent[i].Keyboard {
			for _, b := range row {
				if b.Text == label {
					return s.TapUpdate(chatID, sent[i].MessageID, b.CallbackData), nil
				}
			}
		}
		return Update{}, fmt.Errorf("chat %d: newest keyboard has no button %q", chatID, label)
	}
	return Update{}, fmt.Errorf("chat %d: no message with a keyboard", chatID)
}

// LastText is the text of the newest message sent to the chat ("" if none).
func (s *Server) LastText(chatID int64) string {
	sent := s.Sent(chatID)
	if len(sent) == 0 {
		return ""
	}
	return sent[len(sent)-1].Text
}

// TapGroupButton is from tapping the button labelled label on the newest
// message in the group chatID that shows one (the notice of a case, say).
func (s *Server) TapGroupButton(chatID int64, from User, label string) (Update, error) {
	sent := s.Sent(chatID)
	for i := len(sent) - 1; i >= 0; i-- {
		for _, row := range sent[i].Keyboard {
			for _, b := range row {
				if b.Text == label {
					return s.GroupTapUpdate(chatID, from, sent[i].MessageID, b.CallbackData), nil
				}
			}
		}
	}
	return Update{}, fmt.Errorf("chat %d: no message with a button %q", chatID, label)
}
