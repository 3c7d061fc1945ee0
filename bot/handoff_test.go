package bot

import (
	"strings"
	"testing"

	"github.com/cxbot/cxbot/flows"
)

func TestHandoffNoticeNamesCustomerScoreCommentAndContext(t *testing.T) {
	notice := HandoffNotice(flows.Handoff{
		ID: 7, CustomerRef: "C-1", Channel: flows.ChannelTelegram, ExternalID: "42",
		SurveyID: "post_purchase_nps", Kind: flows.KindNPS, Score: 3, Class: flows.ClassDetractor,
		Comment: "late delivery", Context: map[string]string{"store": "SH-01", "order_id": "1001"},
	})
	for _, want := range []string{"#7", "C-1", "telegram chat 42", "post_purchase_nps", "NPS 3/10", "“late delivery”", "order_id=1001, store=SH-01"} {
		if !strings.Contains(notice, want) {
			t.Errorf("notice lacks %q:\n%s", want, notice)
		}
	}
}

func TestHandoffNoticeWithoutComment(t *testing.T) {
	notice := HandoffNotice(flows.Handoff{ID: 1, Kind: flows.KindCES, Score: 6, Class: flows.ClassDifficult, Channel: flows.ChannelWeChat, ExternalID: "o1"})
	if !strings.Contains(notice, "Comment: (none)") || !strings.Contains(notice, "CES 6/7") || strings.Contains(notice, "Context:") {
		t.Errorf("unexpected notice:\n%s", notice)
	}
}
