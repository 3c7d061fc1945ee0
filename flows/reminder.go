package flows

// Reminder re-asks the open question of an unanswered conversation, for a
// wave's one reminder; false when the conversation has no open question.
func Reminder(s *Survey, st State) (Message, bool) {
	q, ok := s.Question(st.QuestionID)
	if !ok {
		return Message{}, false
	}
	m := s.prompt(q, st.ResponseID, st.Language)
	m.Text = paragraphs(s.Text("reminder", st.Language), m.Text)
	return m, true
}
