package client

import "time"

// The wire types below are the JSON documents the services exchange. They are defined once,
// here; the e2e suite compares their JSON field names and types with the OpenAPI documents
// the services serve (e2e/client_openapi_test.go), so client and server cannot drift.

// File is a stored file's metadata (the OpenAPI schema File).
type File struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"` // lowercase hex
	ContentType string    `json:"content_type"`
	CreatedAt   time.Time `json:"created_at"`
	// ExpiresAt is when retention deletes the file; nil: kept until deleted.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// SharedBy is the owner's user id, on files others shared with you.
	SharedBy string `json:"shared_by,omitempty"`
	// SharedByName is the owner's username when they shared the file ("" if unknown: show
	// SharedBy then).
	SharedByName string `json:"shared_by_name,omitempty"`
	// RequestID and UploaderName mark a file that arrived through a file request.
	RequestID    string `json:"request_id,omitempty"`
	UploaderName string `json:"uploader_name,omitempty"`
	// Status is "available", or with a virus scanner "pending_scan" (not downloadable yet)
	// or "rejected" (the scanner found something; StatusReason says what).
	Status       string `json:"status,omitempty"`
	StatusReason string `json:"status_reason,omitempty"`
	// Shared and Linked, in your own listings, say that the file is shared with someone or
	// has an unexpired link.
	Shared bool `json:"shared,omitempty"`
	Linked bool `json:"linked,omitempty"`
}

// Page is one page of a listing (the OpenAPI schema FileList). NextCursor is nil on the
// last page.
type Page struct {
	Files      []File  `json:"files"`
	NextCursor *string `json:"next_cursor"`
	// Folders are the folders of a level listing (ListLevel), each the full prefix ending
	// in "/".
	Folders []Folder `json:"folders,omitempty"`
}

// Share is a grant of read access to another user (the OpenAPI schema Share).
type Share struct {
	FileID    string    `json:"file_id"`
	UserID    string    `json:"user_id"`
	Username  string    `json:"username,omitempty"` // when shared by username
	CreatedAt time.Time `json:"created_at"`
}

// Link is a download link (the OpenAPI schema Link). Its URLs work without a token: URL (the
// signed long form, only when the link is made), ShortURL, and PageURL (a page for people,
// when the service knows the web page's address).
type Link struct {
	ID           string    `json:"id"`
	FileID       string    `json:"file_id"`
	FileName     string    `json:"file_name"`
	URL          string    `json:"url,omitempty"`
	ShortURL     string    `json:"short_url,omitempty"`
	PageURL      string    `json:"page_url,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	MaxDownloads *int      `json:"max_downloads,omitempty"`
	// BudgetBytes is what the link serves in all (nil: unlimited); ServedBytes what it did.
	BudgetBytes *int64    `json:"budget_bytes,omitempty"`
	ServedBytes int64     `json:"served_bytes"`
	Password    bool      `json:"password"`
	CreatedAt   time.Time `json:"created_at"`
}

// User is an account as sign-up returns it (the auth service's schema User). ID is the sub
// of the user's access tokens.
type User struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// Token is the auth service's token answer (the OpenAPI schema TokenResponse), plus the
// moment the access token expires, which the client works out when the answer arrives.
type Token struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
	// Expiry is when AccessToken stops working; zero means unknown. Not on the wire.
	Expiry time.Time `json:"-"`
}

// Problem is an RFC 9457 problem document as the services send it (the OpenAPI schema
// Problem). Code is stable: branch on it (or on the sentinel errors), never on Detail.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Code     string `json:"code"`
}

// oauthError is an RFC 6749 section 5.2 error (the OpenAPI schema OAuthError), sent by the
// token and revocation endpoints instead of a problem document.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// credentials is the sign-up and login body (the OpenAPI schema Credentials).
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Scope    string `json:"scope,omitempty"`
	OTP      string `json:"otp,omitempty"` // a TOTP or recovery code, for a user with a second factor
}

// shareRequest names a share's recipient (the OpenAPI schema ShareRequest).
type shareRequest struct {
	Username string `json:"username,omitempty"`
	UserID   string `json:"user_id,omitempty"`
}

// renameRequest renames or moves a file (PATCH /v1/files/{id}).
type renameRequest struct {
	Name string `json:"name"`
}

// linkRequest asks for a signed link (the OpenAPI schema LinkRequest).
type linkRequest struct {
	ExpiresIn    int64  `json:"expires_in"`
	MaxDownloads *int   `json:"max_downloads,omitempty"`
	Password     string `json:"password,omitempty"`
}

// WireTypes lists every wire type with the name of its schema in the services' OpenAPI
// documents, for the test that compares the two. Service is "files" or "auth".
func WireTypes() []WireType {
	return []WireType{
		{"files", "File", File{}},
		{"files", "FileList", Page{}},
		{"files", "Share", Share{}},
		{"files", "ShareRequest", shareRequest{}},
		{"files", "Link", Link{}},
		{"files", "LinkRequest", linkRequest{}},
		{"files", "LinkList", LinkPage{}},
		{"files", "ShareList", SharePage{}},
		{"files", "Request", Request{}},
		{"files", "RequestCreate", RequestOptions{}},
		{"files", "RequestList", RequestPage{}},
		{"files", "Problem", Problem{}},
		{"auth", "Problem", Problem{}},
		{"auth", "User", User{}},
		{"auth", "Credentials", credentials{}},
		{"auth", "TokenResponse", Token{}},
		{"auth", "OAuthError", oauthError{}},
	}
}

// WireType pairs a Go type with the OpenAPI schema it encodes.
type WireType struct {
	Service string // "files" or "auth"
	Schema  string // the name under components/schemas
	Value   any    // a zero value of the Go type
}
