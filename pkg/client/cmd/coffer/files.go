package main

import (
	"cmp"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/cofferhq/coffer/pkg/client"
)

func (a *app) lsCommand() *cobra.Command {
	var opts client.ListOptions
	var reverse bool
	cmd := &cobra.Command{
		Use:     "ls",
		Short:   "List your files (or those shared with you), newest first",
		Long:    "List your files (or those shared with you), newest first, or sorted by the server\n(--sort name, size or modified; --reverse the other way).",
		Example: "  coffer ls --prefix reports/\n  coffer ls --sort size --reverse",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch opts.Sort {
			case "", "name", "size", "modified":
			default:
				return usagef("ls: --sort must be name, size or modified")
			}
			if reverse {
				opts.Order = "desc"
				if opts.Sort == "" { // newest first, reversed
					opts.Sort, opts.Order = "modified", "asc"
				}
			}
			if opts.Shared && opts.Sort != "" {
				return usagef("ls: files shared with you are listed newest first; --sort and --reverse are for your own")
			}
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			if opts.Shared { // who shared each file: their name, or their id when it is unknown
				return printList(a, c.List(cmd.Context(), &opts), []string{"ID", "SIZE", "CREATED", "SHARED BY", "NAME"}, func(f client.File) []string {
					return []string{f.ID, human(f.Size), f.CreatedAt.Local().Format(time.DateTime), cmp.Or(f.SharedByName, f.SharedBy), f.Name}
				})
			}
			return printList(a, c.List(cmd.Context(), &opts), []string{"ID", "SIZE", "CREATED", "NAME"}, func(f client.File) []string {
				return []string{f.ID, human(f.Size), f.CreatedAt.Local().Format(time.DateTime), f.Name}
			})
		},
	}
	cmd.Flags().StringVar(&opts.Prefix, "prefix", "", "only names starting with this")
	cmd.Flags().BoolVar(&opts.Shared, "shared", false, "list the files others shared with you")
	cmd.Flags().IntVar(&opts.PageSize, "page-size", 200, "files fetched per request")
	cmd.Flags().StringVar(&opts.Sort, "sort", "", "sort by name, size or modified (the server sorts every page)")
	cmd.Flags().BoolVar(&reverse, "reverse", false, "the other way round (largest, last name or newest first)")
	return cmd
}

func (a *app) rmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm FILE...",
		Short: "Delete files",
		Long: "Delete files. FILE is a name (reports/q3.pdf), the start of an id (at least 6\n" +
			"characters, as with git) or a whole id.",
		Example:           "  coffer rm reports/q3.pdf\n  coffer rm 0b7c5a",
		Args:              minArgs(1),
		ValidArgsFunction: a.completeRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			var deleted []string
			for _, arg := range args {
				f, err := resolve(cmd.Context(), c, arg)
				if err == nil {
					err = c.Delete(cmd.Context(), f.ID)
				}
				if err != nil {
					return fmt.Errorf("%s: %w", arg, err)
				}
				deleted = append(deleted, f.ID)
				if !a.json {
					fprintf(a.stdout, "deleted %s  %s\n", f.ID, f.Name)
				}
			}
			if a.json {
				return a.printJSON(map[string][]string{"deleted": deleted})
			}
			return nil
		},
	}
}

func (a *app) shareCommand() *cobra.Command {
	return &cobra.Command{
		Use:               "share FILE USER",
		Short:             "Let another user read a file",
		Example:           "  coffer share reports/q3.pdf bob",
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			f, err := resolve(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			s, err := c.Share(cmd.Context(), f.ID, args[1])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(s)
			}
			fprintf(a.stdout, "shared %s with %s\n", args[0], args[1])
			return nil
		},
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (a *app) unshareCommand() *cobra.Command {
	return &cobra.Command{
		Use:               "unshare FILE USER",
		Short:             "Take back a user's access to a file (USER: a username or user id)",
		Example:           "  coffer unshare reports/q3.pdf bob",
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			f, err := resolve(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			userID := args[1]
			if !uuidPattern.MatchString(userID) {
				u, err := c.LookupUser(cmd.Context(), userID)
				if err != nil {
					return fmt.Errorf("user %s: %w", args[1], err)
				}
				userID = u.ID
			}
			if err := c.Unshare(cmd.Context(), f.ID, userID); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"file_id": f.ID, "user_id": userID})
			}
			fprintf(a.stdout, "unshared %s from %s\n", args[0], args[1])
			return nil
		},
	}
}

func (a *app) linkCommand() *cobra.Command {
	var (
		expires    time.Duration
		max        int
		signed     bool
		passwordIn bool
	)
	cmd := &cobra.Command{
		Use:               "link FILE",
		Short:             "Make a download link that works without logging in; prints the page to send people",
		Example:           "  coffer link reports/q3.pdf --expires 24h --max-downloads 3",
		Args:              exactArgs(1),
		ValidArgsFunction: a.completeRemote,
		RunE: func(cmd *cobra.Command, args []string) error {
			if expires <= 0 {
				return usagef("link: --expires must be positive")
			}
			c, _, err := a.loggedIn()
			if err != nil {
				return err
			}
			f, err := resolve(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			o := client.LinkOptions{ExpiresIn: expires, MaxDownloads: max}
			if passwordIn {
				if o.Password, err = readLine(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			l, err := c.CreateLinkWith(cmd.Context(), f.ID, o)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(l)
			}
			if signed {
				fprintf(a.stdout, "%s\n", l.URL)
			} else {
				fprintf(a.stdout, "%s\n", linkForPeople(l))
			}
			if !terminal(a.stdout) {
				return nil
			}
			extra := ""
			if l.MaxDownloads != nil {
				extra = fmt.Sprintf(", %d downloads", *l.MaxDownloads)
			}
			fprintf(a.stderr, "expires %s%s\n", l.ExpiresAt.Local().Format(time.DateTime), extra)
			return nil
		},
	}
	cmd.Flags().DurationVar(&expires, "expires", time.Hour, "how long the link works (e.g. 30m, 24h; at most 168h)")
	cmd.Flags().IntVar(&max, "max-downloads", 0, "how many downloads' worth of bytes it serves (default: unlimited)")
	cmd.Flags().BoolVar(&signed, "signed", false, "print the long signed URL (for programs) instead of the page for people")
	cmd.Flags().BoolVar(&passwordIn, "password-stdin", false, "read a password for the link from the first line of stdin")
	return cmd
}
