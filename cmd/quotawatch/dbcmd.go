package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) dbCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Database maintenance",
		Example: "  quotawatch db backup /var/backups/quotawatch.db"}
	cmd.AddCommand(&cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database (WAL included) to FILE; safe while run runs",
		Long: "Write a consistent, self-contained copy of the database to FILE (which must not exist) with\n" +
			"SQLite's VACUUM INTO. The database is three files (.db, -wal, -shm) and recent events may\n" +
			"live only in the WAL, so copying the .db alone can give a malformed copy: use this instead.\n" +
			"It only reads, so it is safe while `quotawatch run` writes.",
		Example:     `  quotawatch db backup /var/backups/quotawatch-$(date +%F).db`,
		Annotations: exitCodes(exitLineOK, "1    no database, FILE already exists, or the copy failed", "2    bad usage (no FILE, or more than one) or bad configuration"),
		Args:        cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.setup()
			if err != nil {
				return err
			}
			st, err := a.openReader(cmd.Context(), c)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Backup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backed up %s to %s\n", st.Path(), args[0])
			return nil
		},
	})
	return cmd
}
