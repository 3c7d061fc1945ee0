package wechat

import (
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"

	"github.com/cxbot/cxbot/flows"
)

// wireMessage holds the few fields cxbot reads of a message or event push.
// It is not the SDK's message.MixMessage because that declares bizmsgmenuid
// as int64, and cxbot's msgmenu ids are tap data ("a:<response>:…"): decoding
// a tap into it would fail the whole message. MsgId stays a string, as sent.
type wireMessage struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   string   `xml:"ToUserName"`
	FromUserName string   `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      string   `xml:"MsgType"`
	MsgID        string   `xml:"MsgId"`
	Content      string   `xml:"Content"`
	BizMsgMenuID string   `xml:"bizmsgmenuid"`
	Event        string   `xml:"Event"`
	EventKey     string   `xml:"EventKey"`
	PicURL       string   `xml:"PicUrl"`
}

// scenePrefix is the prefix of a subscribe event's EventKey when the user
// followed the account by scanning a parametric QR code.
const scenePrefix = "qrscene_"

// convert turns a WeChat push into a flows.Update. When cxbot has nothing to
// do with it, ok is false and ignored says why (for the log).
//
//   - text → Text as typed (full-width digits and all: flows parses them),
//     UpdateID "msg:<MsgId>"
//   - text with bizmsgmenuid (a tapped msgmenu option) → Tap decoded from the
//     id, Text the option's content; an undecodable id gives a zero Tap
//   - subscribe → "/start", or "/start <token>" for EventKey qrscene_<token>;
//     SCAN (a follower scanning a QR code) → "/start <token>";
//     unsubscribe → Blocked. Events have no MsgId: UpdateID is
//     "evt:<openid>:<CreateTime>:<event>", which is the same on WeChat's retries.
//   - image → PhotoID its PicUrl (an agents' chat on Telegram fetches it
//     from there), UpdateID "msg:<MsgId>"
//   - anything else (voice, location, menu clicks…) is ignored
//
// WeChat does not tell the user's language: Language stays "".
func (a *Adapter) convert(w wireMessage) (u flows.Update, ok bool, ignored string) {
	u = flows.Update{
		Channel:    flows.ChannelWeChat,
		ChatID:     w.FromUserName,
		UserID:     w.FromUserName,
		ReceivedAt: time.Unix(w.CreateTime, 0).UTC(),
	}
	switch message.MsgType(w.MsgType) {
	case message.MsgTypeText:
		u.UpdateID = "msg:" + strings.TrimSpace(w.MsgID)
		if strings.TrimSpace(w.MsgID) == "" { // never seen; still deduplicable
			u.UpdateID = eventID(w, "text")
		}
		u.Text = w.Content
		if id := strings.TrimSpace(w.BizMsgMenuID); id != "" {
			tap, err := a.cfg.DecodeTap(id)
			if err != nil {
				a.log.Debug("undecodable msgmenu id, passed on as a stale tap", "update_id", u.UpdateID, "err", err)
				tap = flows.Tap{}
			}
			u.Tap = &tap
		}
		return u, true, ""

	case message.MsgTypeImage:
		if strings.TrimSpace(w.PicURL) == "" || strings.TrimSpace(w.MsgID) == "" {
			return u, false, "image without a picture URL or message id"
		}
		u.UpdateID = "msg:" + strings.TrimSpace(w.MsgID)
		u.PhotoID = strings.TrimSpace(w.PicURL)
		return u, true, ""

	case message.MsgTypeEvent:
		event := message.EventType(w.Event)
		switch event {
		case message.EventSubscribe:
			u.Text = "/start"
			if token, ok := strings.CutPrefix(w.EventKey, scenePrefix); ok && token != "" {
				u.Text += " " + token
			}
		case message.EventScan:
			u.Text = strings.TrimSpace("/start " + w.EventKey)
		case message.EventUnsubscribe:
			u.Blocked = true
		default:
			return u, false, "event " + w.Event
		}
		u.UpdateID = eventID(w, strings.ToLower(w.Event))
		return u, true, ""
	}
	return u, false, "message type " + w.MsgType
}

func eventID(w wireMessage, kind string) string {
	return "evt:" + w.FromUserName + ":" + strconv.FormatInt(w.CreateTime, 10) + ":" + kind
}
