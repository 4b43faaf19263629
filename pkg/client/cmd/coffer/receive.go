package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cofferhq/coffer/pkg/client"
)

// linksCommand lists your links (all, or one file's) with what each has served.
func (a *app) linksCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "links [FILE]",
		Short: "List your download links (all, or one file's), newest first",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			fileID := ""
			if len(args) == 1 {
				f, err := resolve(cmd.Context(), c, args[0])
				if err != nil {
					return err
				}
				fileID = f.ID
			}
			return printList(a, c.Links(cmd.Context(), fileID), []string{"LINK ID", "FILE", "EXPIRES", "SERVED", "URL"}, func(l client.Link) []string {
				served := human(l.ServedBytes)
				if l.BudgetBytes != nil {
					served += " of " + human(*l.BudgetBytes)
				}
				return []string{l.ID, l.FileName, l.ExpiresAt.Local().Format(time.DateTime), served, linkForPeople(l)}
			})
		},
	}
}

// sharesCommand lists who a file is shared with.
func (a *app) sharesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "shares FILE",
		Short: "List who one of your files is shared with",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			f, err := resolve(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			return printList(a, c.Shares(cmd.Context(), f.ID), []string{"USER ID", "SHARED"}, func(s client.Share) []string {
				return []string{s.UserID, s.CreatedAt.Local().Format(time.DateTime)}
			})
		},
	}
}

// linkForPeople is the URL to hand a person: the page when the service knows it, else the
// short download URL, else the signed one.
func linkForPeople(l client.Link) string {
	for _, u := range []string{l.PageURL, l.ShortURL, l.URL} {
		if u != "" {
			return u
		}
	}
	return ""
}

// requestCommand groups the file request commands.
func (a *app) requestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request",
		Short: "File requests: links that let anyone upload files to you (and nothing else)",
	}
	cmd.AddCommand(a.requestCreateCommand(), a.requestLsCommand(), a.requestCloseCommand())
	return cmd
}

func (a *app) requestCreateCommand() *cobra.Command {
	var (
		o          client.RequestOptions
		expires    time.Duration
		maxFiles   int
		maxBytes   int64
		passwordIn bool
	)
	cmd := &cobra.Command{
		Use:   "create TITLE",
		Short: "Make a file request; prints the link to send",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if expires <= 0 {
				return usagef("request create: --expires must be positive")
			}
			o.Title = args[0]
			o.ExpiresIn = int64((expires + time.Second - 1) / time.Second)
			if maxFiles > 0 {
				o.MaxFiles = &maxFiles
			}
			if maxBytes > 0 {
				o.MaxBytes = &maxBytes
			}
			if passwordIn {
				b, err := readLine(cmd.InOrStdin())
				if err != nil {
					return err
				}
				o.Password = b
			}
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			r, err := c.CreateRequest(cmd.Context(), o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(r)
			}
			fprintf(a.stdout, "%s\n", requestForPeople(r))
			if terminal(a.stdout) {
				fprintf(a.stderr, "request %s, open until %s\n", r.ID, r.ExpiresAt.Local().Format(time.DateTime))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Message, "message", "", "a message shown to uploaders")
	cmd.Flags().DurationVar(&expires, "expires", 7*24*time.Hour, "how long it takes uploads (at most the service's link lifetime)")
	cmd.Flags().IntVar(&maxFiles, "max-files", 0, "how many files it takes (default: no limit)")
	cmd.Flags().Int64Var(&maxBytes, "max-bytes", 0, "how many bytes it takes in all (default: no limit but your quota)")
	cmd.Flags().BoolVar(&passwordIn, "password-stdin", false, "read a password for it from the first line of stdin")
	cmd.Flags().BoolVar(&o.RequireName, "require-name", false, "uploaders must give their name")
	return cmd
}

// requestForPeople is the URL to send: the upload page when the service knows it.
func requestForPeople(r client.Request) string {
	if r.PageURL != "" {
		return r.PageURL
	}
	return r.URL
}

func (a *app) requestLsCommand() *cobra.Command {
	var files string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List your file requests (or, with --files ID, what arrived through one)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			if files != "" {
				return printList(a, c.RequestFiles(cmd.Context(), files), []string{"ID", "SIZE", "ARRIVED", "FROM", "NAME"}, func(f client.File) []string {
					return []string{f.ID, human(f.Size), f.CreatedAt.Local().Format(time.DateTime), f.UploaderName, f.Name}
				})
			}
			return printList(a, c.Requests(cmd.Context()), []string{"ID", "STATE", "FILES", "BYTES", "EXPIRES", "TITLE", "URL"}, func(r client.Request) []string {
				state := "open"
				if !r.Open {
					state = "closed"
				}
				return []string{r.ID, state, limit(int64(r.FilesUsed), intPtr64(r.MaxFiles), count),
					limit(r.BytesUsed, r.MaxBytes, human), r.ExpiresAt.Local().Format(time.DateTime), r.Title, requestForPeople(r)}
			})
		},
	}
	cmd.Flags().StringVar(&files, "files", "", "list the files that arrived through this request")
	return cmd
}

func intPtr64(p *int) *int64 {
	if p == nil {
		return nil
	}
	n := int64(*p)
	return &n
}

// limit shows a count and, if any, its limit.
func limit(n int64, max *int64, show func(int64) string) string {
	if max == nil {
		return show(n)
	}
	return show(n) + "/" + show(*max)
}

func count(n int64) string { return fmt.Sprint(n) }

func (a *app) requestCloseCommand() *cobra.Command {
	var del bool
	cmd := &cobra.Command{
		Use:   "close ID...",
		Short: "Stop file requests taking uploads, at once (--delete also removes them; what arrived stays)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			for _, id := range args {
				if del {
					err = c.DeleteRequest(cmd.Context(), id)
				} else {
					_, err = c.CloseRequest(cmd.Context(), id)
				}
				if err != nil {
					return fmt.Errorf("request %s: %w", id, err)
				}
				if !a.json {
					fprintf(a.stdout, "closed %s\n", id)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&del, "delete", false, "delete the requests too")
	return cmd
}

// readLine reads one line (a password) from r, without its line ending.
func readLine(r interface{ Read([]byte) (int, error) }) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() <= 4096 {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			break
		}
	}
	return strings.TrimSuffix(b.String(), "\r"), nil
}
