package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/files/internal/files"
	"github.com/cofferhq/coffer/services/files/internal/webhook"
)

// subscriptionJSON is a webhook subscription as the admin API shows it. Secret is set only in
// the answer to its creation.
type subscriptionJSON struct {
	ID         string    `json:"id"`
	URL        string    `json:"url"`
	EventTypes []string  `json:"event_types"`
	Secret     string    `json:"secret,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

func toSubscriptionJSON(s webhook.Subscription) subscriptionJSON {
	types := s.EventTypes
	if types == nil {
		types = []string{}
	}
	return subscriptionJSON{ID: s.ID.String(), URL: s.URL, EventTypes: types, Secret: s.Secret, CreatedAt: s.CreatedAt}
}

// webhooksOn answers 404 when the server has no webhook administration.
func (s *Server) webhooksOn(c *gin.Context) {
	if s.opts.Webhooks == nil {
		s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such route"))
	}
}

func (s *Server) handleCreateWebhook() gin.HandlerFunc {
	type request struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	return func(c *gin.Context) {
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		sub, err := s.opts.Webhooks.Create(c.Request.Context(), req.URL, req.EventTypes)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusCreated, toSubscriptionJSON(sub))
	}
}

func (s *Server) handleListWebhooks() gin.HandlerFunc {
	return func(c *gin.Context) {
		subs, err := s.opts.Webhooks.List(c.Request.Context())
		if err != nil {
			s.error(c, err)
			return
		}
		out := struct {
			Webhooks []subscriptionJSON `json:"webhooks"`
		}{Webhooks: make([]subscriptionJSON, 0, len(subs))}
		for _, sub := range subs {
			sub.Secret = ""
			out.Webhooks = append(out.Webhooks, toSubscriptionJSON(sub))
		}
		c.JSON(http.StatusOK, out)
	}
}

func (s *Server) handleDeleteWebhook() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := uuid.Parse(c.Param("id"))
		if err != nil {
			s.error(c, files.ErrNotFound)
			return
		}
		if err := s.opts.Webhooks.Delete(c.Request.Context(), id); err != nil {
			s.error(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

func (s *Server) handleFailedDeliveries() gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := 100
		if l := c.Query("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 1000 {
				s.error(c, files.Invalid("limit must be between 1 and 1000"))
				return
			}
			limit = n
		}
		ds, err := s.opts.Webhooks.Failed(c.Request.Context(), limit)
		if err != nil {
			s.error(c, err)
			return
		}
		if ds == nil {
			ds = []webhook.Delivery{}
		}
		c.JSON(http.StatusOK, struct {
			Deliveries []webhook.Delivery `json:"deliveries"`
		}{ds})
	}
}

func (s *Server) handleRetryDelivery() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			s.error(c, files.ErrNotFound)
			return
		}
		if err := s.opts.Webhooks.Retry(c.Request.Context(), id); err != nil {
			s.error(c, err)
			return
		}
		c.Status(http.StatusAccepted)
	}
}
