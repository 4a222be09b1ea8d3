namespace AkkaTcpTransfer.Store;

/// <summary>The SQL that differs between the two databases the store runs on; everything else is shared. One schema
/// for both: a table of events (the journal), one of snapshots, and one of facts about the database itself.</summary>
internal abstract class StoreDialect
{
    public static readonly StoreDialect Sqlite = new SqliteDialect();
    public static readonly StoreDialect Postgres = new PostgresDialect();

    /// <summary>The schema version this program writes. A database of a later version is refused (it may hold what this
    /// program does not understand); an earlier one would be migrated here.</summary>
    public const int SchemaVersion = 1;

    public abstract string Name { get; }

    /// <summary>Statements that create every table and index when missing.</summary>
    public abstract IReadOnlyList<string> CreateSchema { get; }

    /// <summary>How long one write statement may wait (for a lock, say) before it fails: SQLite's waits end well inside
    /// chat.confirm-timeout, so that a sender hears "not stored" rather than "not confirmed".</summary>
    public abstract int WriteTimeoutSeconds { get; }

    public const string InsertEvent =
        "INSERT INTO attp_events (persistence_id, sequence_nr, written_at, deleted, serializer_id, manifest, payload) " +
        "VALUES (@pid, @seq, @at, 0, @ser, @man, @payload)";

    public const string SelectEvents =
        "SELECT sequence_nr, written_at, serializer_id, manifest, payload FROM attp_events " +
        "WHERE persistence_id = @pid AND sequence_nr >= @from AND sequence_nr <= @to AND deleted = 0 ORDER BY sequence_nr LIMIT @max";

    /// <summary>The highest sequence number ever written for an id: a deleted event's row stays as a tombstone (without
    /// its payload) while it is the highest, so numbering never starts over.</summary>
    public const string SelectHighest = "SELECT MAX(sequence_nr) FROM attp_events WHERE persistence_id = @pid";

    public const string SelectHighestUpTo = "SELECT MAX(sequence_nr) FROM attp_events WHERE persistence_id = @pid AND sequence_nr <= @to";

    public const string DeleteEventsBelow = "DELETE FROM attp_events WHERE persistence_id = @pid AND sequence_nr < @seq";

    public abstract string MarkDeleted { get; }

    public const string SelectSnapshot =
        "SELECT sequence_nr, taken_at, serializer_id, manifest, payload FROM attp_snapshots " +
        "WHERE persistence_id = @pid AND sequence_nr <= @maxSeq AND taken_at <= @maxAt AND sequence_nr >= @minSeq AND taken_at >= @minAt " +
        "ORDER BY sequence_nr DESC LIMIT 1";

    public const string UpsertSnapshot =
        "INSERT INTO attp_snapshots (persistence_id, sequence_nr, taken_at, serializer_id, manifest, payload) " +
        "VALUES (@pid, @seq, @at, @ser, @man, @payload) " +
        "ON CONFLICT (persistence_id, sequence_nr) DO UPDATE SET taken_at = excluded.taken_at, serializer_id = excluded.serializer_id, " +
        "manifest = excluded.manifest, payload = excluded.payload";

    public const string DeleteSnapshot = "DELETE FROM attp_snapshots WHERE persistence_id = @pid AND sequence_nr = @seq";

    public const string DeleteSnapshots =
        "DELETE FROM attp_snapshots WHERE persistence_id = @pid AND sequence_nr <= @maxSeq AND taken_at <= @maxAt " +
        "AND sequence_nr >= @minSeq AND taken_at >= @minAt";

    public const string SelectMeta = "SELECT value FROM attp_meta WHERE name = @name";

    public const string InsertMeta = "INSERT INTO attp_meta (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING";

    private sealed class SqliteDialect : StoreDialect
    {
        public override string Name => "SQLite";

        public override IReadOnlyList<string> CreateSchema { get; } =
        [
            "CREATE TABLE IF NOT EXISTS attp_meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS attp_events (persistence_id TEXT NOT NULL, sequence_nr INTEGER NOT NULL, " +
            "written_at INTEGER NOT NULL, deleted INTEGER NOT NULL, serializer_id INTEGER NOT NULL, manifest TEXT NOT NULL, " +
            "payload BLOB NOT NULL, PRIMARY KEY (persistence_id, sequence_nr)) WITHOUT ROWID",
            "CREATE TABLE IF NOT EXISTS attp_snapshots (persistence_id TEXT NOT NULL, sequence_nr INTEGER NOT NULL, " +
            "taken_at INTEGER NOT NULL, serializer_id INTEGER NOT NULL, manifest TEXT NOT NULL, payload BLOB NOT NULL, " +
            "PRIMARY KEY (persistence_id, sequence_nr)) WITHOUT ROWID",
        ];

        public override int WriteTimeoutSeconds => 3;

        public override string MarkDeleted =>
            "UPDATE attp_events SET deleted = 1, payload = X'' WHERE persistence_id = @pid AND sequence_nr = @seq";
    }

    private sealed class PostgresDialect : StoreDialect
    {
        public override string Name => "PostgreSQL";

        public override IReadOnlyList<string> CreateSchema { get; } =
        [
            "CREATE TABLE IF NOT EXISTS attp_meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS attp_events (persistence_id TEXT NOT NULL, sequence_nr BIGINT NOT NULL, " +
            "written_at BIGINT NOT NULL, deleted SMALLINT NOT NULL, serializer_id INTEGER NOT NULL, manifest TEXT NOT NULL, " +
            "payload BYTEA NOT NULL, PRIMARY KEY (persistence_id, sequence_nr))",
            "CREATE TABLE IF NOT EXISTS attp_snapshots (persistence_id TEXT NOT NULL, sequence_nr BIGINT NOT NULL, " +
            "taken_at BIGINT NOT NULL, serializer_id INTEGER NOT NULL, manifest TEXT NOT NULL, payload BYTEA NOT NULL, " +
            "PRIMARY KEY (persistence_id, sequence_nr))",
        ];

        public override int WriteTimeoutSeconds => 10;

        public override string MarkDeleted =>
            "UPDATE attp_events SET deleted = 1, payload = ''::bytea WHERE persistence_id = @pid AND sequence_nr = @seq";
    }
}
