package telegramtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Groups, forums and photos: what an agents' chat needs.

// Topic is a forum topic the bot created.
type Topic struct {
	ThreadID  int // message_thread_id: the id of the topic's creation service message
	Name      string
	IconColor int
	CreatedAt time.Time
}

type msgKey struct {
	chat int64
	id   int
}

// topicColors are the icon colours createForumTopic accepts.
var topicColors = []int{7322096, 16766590, 13338331, 9367192, 16749490, 16478047}

// MakeForum marks the supergroup chatID (a -100… id) as a forum: getChat
// says is_forum, createForumTopic works there.
func (s *Server) MakeForum(chatID int64) {
	if chatFor(chatID).Type != "supergroup" {
		panic(fmt.Sprintf("telegramtest: MakeForum(%d): only supergroups (ids below -1000000000000) can be forums", chatID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forums[chatID] = true
	s.notifyLocked()
}

// DenyTopics makes createForumTopic in chatID fail as it does when the bot
// lacks the can_manage_topics right (400 "not enough rights to create a topic").
func (s *Server) DenyTopics(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noTopics[chatID] = true
}

// chatLocked is the Chat object for id, is_forum included.
func (s *Server) chatLocked(id int64) Chat {
	c := chatFor(id)
	c.IsForum = s.forums[id]
	return c
}

func (s *Server) hasTopicLocked(chatID int64, threadID int) bool {
	return slices.ContainsFunc(s.topics[chatID], func(t Topic) bool { return t.ThreadID == threadID })
}

// topicCreatedLocked is the service message that opened a forum topic, the
// one Telegram gives as reply_to_message of a topic's messages that reply
// to nothing. A topic the fake did not see created (a person made it) gets
// a made-up name.
func (s *Server) topicCreatedLocked(chatID int64, threadID int) *Message {
	created := ForumTopicCreated{Name: "Topic " + strconv.Itoa(threadID), IconColor: topicColors[0]}
	for _, t := range s.topics[chatID] {
		if t.ThreadID == threadID {
			created = ForumTopicCreated{Name: t.Name, IconColor: t.IconColor}
		}
	}
	bot := s.botUser()
	return &Message{
		MessageID: threadID, From: &bot, Chat: s.chatLocked(chatID), Date: s.now().Unix(),
		MessageThreadID: threadID, IsTopicMessage: true, ForumTopicCreated: &created,
	}
}

// messageStubLocked is the message id of chatID as reply_to_message: the
// bot's own in full, a person's as its id (the fake keeps no text of them).
func (s *Server) messageStubLocked(chatID int64, id int) *Message {
	if m := s.findLocked(chatID, id); m != nil {
		return s.wireMessageOnly(m)
	}
	out := &Message{MessageID: id, Chat: s.chatLocked(chatID), Date: s.now().Unix()}
	if thread := s.threadOf[msgKey{chatID, id}]; thread > 0 && s.forums[chatID] {
		out.MessageThreadID, out.IsTopicMessage = thread, true
	}
	return out
}

// photoSizes are the sizes Telegram gives a photo, the largest (fileID) last.
func photoSizes(fileID string) []PhotoSize {
	return []PhotoSize{
		{FileID: fileID + "_s", FileUniqueID: "u" + fileID + "_s", Width: 90, Height: 67, FileSize: 1_400},
		{FileID: fileID + "_m", FileUniqueID: "u" + fileID + "_m", Width: 320, Height: 240, FileSize: 18_000},
		{FileID: fileID, FileUniqueID: "u" + fileID, Width: 1280, Height: 960, FileSize: 160_000},
	}
}

func (s *Server) knowPhotoLocked(fileID string) {
	for _, size := range photoSizes(fileID) {
		s.files[size.FileID] = true
	}
}

func (s *Server) getChat(_ *http.Request, p params) (any, *apiError) {
	chatID, e := chatParam(p)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.chatLocked(chatID)
	return map[string]any{
		"id": c.ID, "type": c.Type, "title": c.Title, "username": c.Username, "first_name": c.FirstName,
		"is_forum": c.IsForum, "accent_color_id": 0, "max_reaction_count": 11,
	}, nil
}

// createForumTopic opens a topic in a forum supergroup. As in Telegram, the
// topic begins with a service message whose id is the message_thread_id.
func (s *Server) createForumTopic(_ *http.Request, p params) (any, *apiError) {
	chatID, e := chatParam(p)
	if e != nil {
		return nil, e
	}
	name := p["name"]
	switch n := utf8.RuneCountInString(name); {
	case strings.TrimSpace(name) == "":
		return nil, badRequest("topic name is empty")
	case n > 128:
		return nil, badRequest("topic name is longer than 128 characters")
	}
	color := p.int("icon_color", topicColors[0])
	if !slices.Contains(topicColors, color) {
		return nil, badRequest("invalid icon_color specified")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.blocked[chatID]:
		return nil, forbidden(chatID)
	case !s.forums[chatID]:
		return nil, badRequest("the chat is not a forum")
	case s.noTopics[chatID]:
		return nil, badRequest("not enough rights to create a topic")
	}
	s.lastMessageID[chatID]++
	t := Topic{ThreadID: s.lastMessageID[chatID], Name: name, IconColor: color, CreatedAt: s.now()}
	s.topics[chatID] = append(s.topics[chatID], t)
	s.threadOf[msgKey{chatID, t.ThreadID}] = t.ThreadID
	s.notifyLocked()
	return ForumTopic{MessageThreadID: t.ThreadID, Name: t.Name, IconColor: t.IconColor}, nil
}

// sendPhoto sends a photo by file_id (one Telegram knows: from an update or
// an earlier upload), by http(s) URL, or uploaded as a multipart file.
func (s *Server) sendPhoto(_ *http.Request, p params) (any, *apiError) {
	chatID, e := chatParam(p)
	if e != nil {
		return nil, e
	}
	o, e := outgoingParams(p)
	if e != nil {
		return nil, e
	}
	o.text = p["caption"]
	visible, e := visibleText(o.text, o.mode)
	if e != nil {
		return nil, e
	}
	if utf16Len(visible) > 1024 {
		return nil, badRequest("message caption is too long")
	}
	photo, upload := p["photo"], p["@photo"] != ""
	if photo == "" && !upload {
		return nil, badRequest("there is no photo in the request")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case upload:
		s.nextUpload++
		photo = "AgACAgUpload" + strconv.Itoa(s.nextUpload)
		s.knowPhotoLocked(photo)
	case strings.HasPrefix(photo, "http://"), strings.HasPrefix(photo, "https://"):
	case !s.files[photo]:
		return nil, badRequest("wrong file identifier/HTTP URL specified")
	}
	o.photoID = photo
	m, e := s.sendLocked(chatID, o)
	if e != nil {
		return nil, e
	}
	return s.wireMessage(m), nil
}

// NewUser is a person (not a bot) with a username made from the id.
func NewUser(id int64, firstName string) User {
	return User{ID: id, FirstName: firstName, Username: "user" + strconv.FormatInt(id, 10)}
}

// GroupTextUpdate is from writing text in the group chatID. In a forum
// topic (threadID > 0; MakeForum first) the message carries
// is_topic_message and message_thread_id and, when it replies to nothing
// (replyTo 0), reply_to_message is the topic's creation service message, as
// Telegram sends it. In a supergroup that is no forum a reply carries the
// reply thread's message_thread_id without is_topic_message, as Telegram's do.
func (s *Server) GroupTextUpdate(chatID int64, from User, text string, threadID, replyTo int) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.groupMessageLocked(chatID, from, threadID, replyTo)
	m.Text = text
	if strings.HasPrefix(text, "/") {
		command := strings.Fields(text)[0]
		m.Entities = []MessageEntity{{Type: "bot_command", Offset: 0, Length: utf16Len(command)}}
	}
	return Update{UpdateID: s.newUpdateIDLocked(), Message: m}
}

// GroupPhotoUpdate is from sending a photo (fileID, its largest size) with
// caption in the group chatID; threadID and replyTo as for GroupTextUpdate.
// The photo's file ids are then ones sendPhoto accepts.
func (s *Server) GroupPhotoUpdate(chatID int64, from User, fileID, caption string, threadID, replyTo int) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.groupMessageLocked(chatID, from, threadID, replyTo)
	m.Photo, m.Caption = photoSizes(fileID), caption
	s.knowPhotoLocked(fileID)
	return Update{UpdateID: s.newUpdateIDLocked(), Message: m}
}

func (s *Server) groupMessageLocked(chatID int64, from User, threadID, replyTo int) *Message {
	chat := s.chatLocked(chatID)
	if chat.Type == "private" {
		panic(fmt.Sprintf("telegramtest: chat %d is a private chat, not a group", chatID))
	}
	if threadID > 0 && !s.forums[chatID] {
		panic(fmt.Sprintf("telegramtest: chat %d is not a forum: MakeForum before writing in topic %d", chatID, threadID))
	}
	s.lastMessageID[chatID]++
	m := &Message{MessageID: s.lastMessageID[chatID], From: &from, Chat: chat, Date: s.now().Unix()}
	key := msgKey{chatID, m.MessageID}
	switch {
	case threadID > 0:
		m.MessageThreadID, m.IsTopicMessage = threadID, true
		s.threadOf[key] = threadID
		if replyTo > 0 {
			m.ReplyToMessage = s.messageStubLocked(chatID, replyTo)
		} else {
			m.ReplyToMessage = s.topicCreatedLocked(chatID, threadID)
		}
	case replyTo > 0:
		m.ReplyToMessage = s.messageStubLocked(chatID, replyTo)
		if chat.Type == "supergroup" && !chat.IsForum {
			root := s.threadOf[msgKey{chatID, replyTo}]
			if root == 0 {
				root = replyTo
			}
			m.MessageThreadID = root
			s.threadOf[key] = root
		}
	}
	return m
}

// GroupTapUpdate is from tapping the button carrying data under the bot's
// message messageID in the group chatID. answerCallbackQuery accepts its id.
func (s *Server) GroupTapUpdate(chatID int64, from User, messageID int, data string) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextCallbackID++
	id := strconv.FormatInt(4_000_000_000_000_000_000+s.nextCallbackID, 10)
	s.callbackIDs[id] = true
	msg := &Message{MessageID: messageID, Chat: s.chatLocked(chatID), Date: s.now().Unix()}
	if m := s.findLocked(chatID, messageID); m != nil {
		msg = s.wireMessage(m)
	}
	return Update{UpdateID: s.newUpdateIDLocked(), CallbackQuery: &CallbackQuery{
		ID: id, From: from, Message: msg, ChatInstance: strconv.FormatInt(chatID*31+7, 10), Data: data,
	}}
}

// PhotoUpdate is a customer sending a photo (fileID, its largest size) with
// caption in their private chat. Its file ids are then ones sendPhoto accepts.
func (s *Server) PhotoUpdate(chatID int64, fileID, caption string) Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastMessageID[chatID]++
	from := customer(chatID, "")
	s.knowPhotoLocked(fileID)
	return Update{UpdateID: s.newUpdateIDLocked(), Message: &Message{
		MessageID: s.lastMessageID[chatID], From: &from, Chat: s.chatLocked(chatID), Date: s.now().Unix(),
		Photo: photoSizes(fileID), Caption: caption,
	}}
}
