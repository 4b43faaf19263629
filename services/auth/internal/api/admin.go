package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/cofferhq/coffer/pkg/auditlog"
	"github.com/cofferhq/coffer/pkg/auditlog/auditpg"
	"github.com/cofferhq/coffer/pkg/problem"
	"github.com/cofferhq/coffer/services/auth/internal/auth"
)

// Admin is what the admin routes need of the domain (auth.Service).
type Admin interface {
	ListUsers(ctx context.Context, q auth.UserQuery) ([]auth.User, error)
	UserByID(ctx context.Context, id uuid.UUID) (auth.User, error)
	AdminCreateUser(ctx context.Context, actor auth.Actor, username, pw string, admin bool) (auth.User, error)
	AdminSetUserDisabled(ctx context.Context, actor auth.Actor, id uuid.UUID, disabled bool) error
	AdminSetAdmin(ctx context.Context, actor auth.Actor, id uuid.UUID, admin bool) error
	AdminDeleteUser(ctx context.Context, actor auth.Actor, id uuid.UUID) error
	AdminRevokeSessions(ctx context.Context, actor auth.Actor, id uuid.UUID) (int64, error)
	ListClients(ctx context.Context) ([]auth.Client, error)
	AdminSetClientDisabled(ctx context.Context, actor auth.Actor, id string, disabled bool) error
	AdminDeleteClient(ctx context.Context, actor auth.Actor, id string) error
	AdminRotateClientSecret(ctx context.Context, actor auth.Actor, id string) (string, error)
}

// AuditLog is what the admin audit routes read (auditpg.Store).
type AuditLog interface {
	Each(ctx context.Context, q auditpg.Query, fn func(auditlog.Record) error) error
}

// adminRoutes lists the admin API (/v1/admin, admin role required). Browsers on registered
// origins may call it (the web page's admin section).
func (s *Server) adminRoutes() {
	const methods = "GET, POST, DELETE"
	cors := s.cors(methods)
	g := s.engine.Group("/v1/admin", cors, s.requireAdmin())
	g.GET("/users", s.handleAdminListUsers())
	g.POST("/users", s.handleAdminCreateUser())
	g.GET("/users/:id", s.handleAdminGetUser())
	g.DELETE("/users/:id", s.handleAdminDeleteUser())
	g.POST("/users/:id/disable", s.handleAdminUserFlag(func(a Admin, ctx context.Context, actor auth.Actor, id uuid.UUID) error {
		return a.AdminSetUserDisabled(ctx, actor, id, true)
	}))
	g.POST("/users/:id/enable", s.handleAdminUserFlag(func(a Admin, ctx context.Context, actor auth.Actor, id uuid.UUID) error {
		return a.AdminSetUserDisabled(ctx, actor, id, false)
	}))
	g.POST("/users/:id/grant-admin", s.handleAdminUserFlag(func(a Admin, ctx context.Context, actor auth.Actor, id uuid.UUID) error {
		return a.AdminSetAdmin(ctx, actor, id, true)
	}))
	g.POST("/users/:id/revoke-admin", s.handleAdminUserFlag(func(a Admin, ctx context.Context, actor auth.Actor, id uuid.UUID) error {
		return a.AdminSetAdmin(ctx, actor, id, false)
	}))
	g.DELETE("/users/:id/sessions", s.handleAdminRevokeSessions())
	g.GET("/clients", s.handleAdminListClients())
	g.POST("/clients/:id/disable", s.handleAdminClientFlag(true))
	g.POST("/clients/:id/enable", s.handleAdminClientFlag(false))
	g.DELETE("/clients/:id", s.handleAdminDeleteClient())
	g.POST("/clients/:id/secret", s.handleAdminRotateSecret())
	g.GET("/audit", s.handleAdminAudit())
	s.invitationRoutes(g) // invitations and password resets (account.go)
	// Preflights, answered by cors before the admin check (they carry no token).
	seen := map[string]bool{}
	for _, r := range s.engine.Routes() {
		if strings.HasPrefix(r.Path, "/v1/admin/") && !seen[r.Path] {
			seen[r.Path] = true
			s.engine.OPTIONS(r.Path, cors)
		}
	}
}

// AdminRoutes lists the method and path of every route behind the admin check, from the
// router itself (the table test covers each one, so a new route cannot slip past it).
func (s *Server) AdminRoutes() [][2]string {
	var out [][2]string
	for _, r := range s.engine.Routes() {
		if r.Method != http.MethodOptions && strings.HasPrefix(r.Path, "/v1/admin/") {
			out = append(out, [2]string{r.Method, r.Path})
		}
	}
	return out
}

func actorOf(c *gin.Context) auth.Actor {
	cl := adminClaims(c)
	return auth.Actor{Kind: auth.ActorUser, ID: cl.Subject, ClientID: cl.ClientID, Address: c.ClientIP()}
}

type adminUser struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Disabled  bool      `json:"disabled"`
	Admin     bool      `json:"admin"`
	CreatedAt time.Time `json:"created_at"`
}

func toAdminUser(u auth.User) adminUser {
	return adminUser{ID: u.ID.String(), Username: u.Username, Disabled: u.Disabled, Admin: u.Admin, CreatedAt: u.CreatedAt}
}

// userID parses :id; a malformed id is answered like an unknown one.
func userID(c *gin.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil || len(c.Param("id")) != 36 {
		return uuid.UUID{}, auth.ErrNotFound
	}
	return id, nil
}

func (s *Server) handleAdminListUsers() gin.HandlerFunc {
	return func(c *gin.Context) {
		limit := 0
		if v := c.Query("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > auth.MaxUserPage {
				s.error(c, auth.Invalid("limit must be 1-%d", auth.MaxUserPage))
				return
			}
			limit = n
		}
		list, err := s.admin.ListUsers(c.Request.Context(), auth.UserQuery{Search: c.Query("search"), After: c.Query("after"), Limit: limit})
		if err != nil {
			s.error(c, err)
			return
		}
		out := struct {
			Users []adminUser `json:"users"`
			Next  string      `json:"next,omitempty"`
		}{Users: make([]adminUser, 0, len(list))}
		for _, u := range list {
			out.Users = append(out.Users, toAdminUser(u))
		}
		if len(list) > 0 && (limit == 0 && len(list) == auth.MaxUserPage || limit > 0 && len(list) == limit) {
			out.Next = list[len(list)-1].Username
		}
		encode(c, http.StatusOK, out)
	}
}

func (s *Server) handleAdminCreateUser() gin.HandlerFunc {
	type request struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	return func(c *gin.Context) {
		req, err := decode[request](s, c)
		if err != nil {
			s.error(c, err)
			return
		}
		u, err := s.admin.AdminCreateUser(c.Request.Context(), actorOf(c), req.Username, req.Password, req.Admin)
		if err != nil {
			s.error(c, err)
			return
		}
		c.Header("Location", "/v1/admin/users/"+u.ID.String())
		encode(c, http.StatusCreated, toAdminUser(u))
	}
}

func (s *Server) handleAdminGetUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := userID(c)
		if err == nil {
			var u auth.User
			if u, err = s.admin.UserByID(c.Request.Context(), id); err == nil {
				encode(c, http.StatusOK, toAdminUser(u))
				return
			}
		}
		s.error(c, err)
	}
}

// handleAdminUserFlag runs one change of a user and answers with the user as it now is.
func (s *Server) handleAdminUserFlag(change func(Admin, context.Context, auth.Actor, uuid.UUID) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := userID(c)
		if err == nil {
			err = change(s.admin, c.Request.Context(), actorOf(c), id)
		}
		var u auth.User
		if err == nil {
			u, err = s.admin.UserByID(c.Request.Context(), id)
		}
		if err != nil {
			s.error(c, err)
			return
		}
		encode(c, http.StatusOK, toAdminUser(u))
	}
}

func (s *Server) handleAdminDeleteUser() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := userID(c)
		if err == nil {
			err = s.admin.AdminDeleteUser(c.Request.Context(), actorOf(c), id)
		}
		if err != nil {
			s.error(c, err)
			return
		}
		// The answer states what became of the user's files (the file service keeps them).
		encode(c, http.StatusOK, gin.H{"id": id.String(), "deleted": true, "files": auth.FilesFate})
	}
}

func (s *Server) handleAdminRevokeSessions() gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := userID(c)
		var n int64
		if err == nil {
			n, err = s.admin.AdminRevokeSessions(c.Request.Context(), actorOf(c), id)
		}
		if err != nil {
			s.error(c, err)
			return
		}
		encode(c, http.StatusOK, gin.H{"id": id.String(), "revoked_families": n})
	}
}

type adminClient struct {
	ID           string    `json:"id"`
	Public       bool      `json:"public"`
	Disabled     bool      `json:"disabled"`
	Scopes       []string  `json:"scopes"`
	RedirectURIs []string  `json:"redirect_uris"`
	Origins      []string  `json:"origins"`
	AdminRole    bool      `json:"admin_role"`
	CreatedAt    time.Time `json:"created_at"`
}

func (s *Server) handleAdminListClients() gin.HandlerFunc {
	return func(c *gin.Context) {
		list, err := s.admin.ListClients(c.Request.Context())
		if err != nil {
			s.error(c, err)
			return
		}
		out := make([]adminClient, 0, len(list))
		for _, cl := range list {
			out = append(out, adminClient{ID: cl.ID, Public: cl.Public(), Disabled: cl.Disabled, Scopes: nonNil(cl.Scopes),
				RedirectURIs: nonNil(cl.RedirectURIs), Origins: nonNil(cl.Origins), AdminRole: cl.AdminRole, CreatedAt: cl.CreatedAt})
		}
		encode(c, http.StatusOK, gin.H{"clients": out})
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// clientNotFound answers an unknown client as such (ErrNotFound would say "no such user").
func (s *Server) clientError(c *gin.Context, err error) {
	if err == auth.ErrNotFound {
		s.problem(c, problem.New(http.StatusNotFound, "not_found", "no such client"))
		return
	}
	s.error(c, err)
}

func (s *Server) handleAdminClientFlag(disabled bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.admin.AdminSetClientDisabled(c.Request.Context(), actorOf(c), c.Param("id"), disabled); err != nil {
			s.clientError(c, err)
			return
		}
		encode(c, http.StatusOK, gin.H{"id": c.Param("id"), "disabled": disabled})
	}
}

func (s *Server) handleAdminDeleteClient() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.admin.AdminDeleteClient(c.Request.Context(), actorOf(c), c.Param("id")); err != nil {
			s.clientError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}

func (s *Server) handleAdminRotateSecret() gin.HandlerFunc {
	return func(c *gin.Context) {
		secret, err := s.admin.AdminRotateClientSecret(c.Request.Context(), actorOf(c), c.Param("id"))
		if err != nil {
			s.clientError(c, err)
			return
		}
		encode(c, http.StatusOK, gin.H{"client_id": c.Param("id"), "client_secret": secret})
	}
}

// handleAdminAudit answers a page of audit records (JSON), or with format=jsonl every
// selected record as JSON lines, streamed.
func (s *Server) handleAdminAudit() gin.HandlerFunc {
	return func(c *gin.Context) {
		q, jsonl, err := auditQuery(c)
		if err != nil {
			s.error(c, err)
			return
		}
		if s.audit == nil {
			s.problem(c, problem.New(http.StatusNotFound, "not_found", "no audit log"))
			return
		}
		if jsonl {
			c.Header("Content-Type", "application/jsonl")
			c.Header("Cache-Control", "no-store")
			c.Status(http.StatusOK)
			enc := json.NewEncoder(c.Writer)
			if err := s.audit.Each(c.Request.Context(), q, func(r auditlog.Record) error { return enc.Encode(auditlog.JSON(r)) }); err != nil {
				// Headers are out: the cut-short stream is all the client sees.
				s.logger.WarnContext(c.Request.Context(), "audit export", "err", err)
			}
			return
		}
		out := []auditlog.JSONRecord{}
		err = s.audit.Each(c.Request.Context(), q, func(r auditlog.Record) error {
			out = append(out, auditlog.JSON(r))
			return nil
		})
		if err != nil {
			s.error(c, err)
			return
		}
		resp := gin.H{"records": out}
		if len(out) == q.Limit {
			resp["next"] = strconv.FormatInt(out[len(out)-1].Seq, 10)
		}
		encode(c, http.StatusOK, resp)
	}
}

// auditQuery reads the audit filters (auditpg.ParseQuery).
func auditQuery(c *gin.Context) (auditpg.Query, bool, error) {
	q, jsonl, err := auditpg.ParseQuery(c.Request.URL.Query())
	var qe *auditpg.QueryError
	if errors.As(err, &qe) {
		return q, false, auth.Invalid("%s", qe.Reason)
	}
	return q, jsonl, err
}
