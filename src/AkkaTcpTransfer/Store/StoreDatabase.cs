using System.Buffers.Binary;
using System.Data.Common;
using AkkaTcpTransfer.Settings;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AkkaTcpTransfer.Store;

/// <summary>The server's database, opened and checked before anything uses it: a file that is not ours, is damaged,
/// or was written by a newer version stops the server at start, naming the file and the reason, rather than failing
/// later line by line. Holds the node's claim on the database (one single server, or the nodes of one cluster) and
/// its one <see cref="StoreWriter"/>; reads take connections of their own.</summary>
internal sealed class StoreDatabase : IDisposable
{
    /// <summary>"ATTP": written into a SQLite file's header (PRAGMA application_id), so that our files are known as ours
    /// and another program's database is not mistaken for an empty one of ours.</summary>
    public const int ApplicationId = 0x41545450;

    private readonly string _sqliteConnection = "";
    private readonly NpgsqlDataSource? _postgres;
    private readonly IDisposable _claim;
    private readonly bool _syncFull;

    private StoreDatabase(StoreDialect dialect, string description, string id, string sqliteConnection, NpgsqlDataSource? postgres,
        IDisposable claim, int maxBatch, long maxPages, bool syncFull = false)
    {
        _syncFull = syncFull;
        MaxPages = maxPages;
        Dialect = dialect;
        Description = description;
        Id = id;
        _sqliteConnection = sqliteConnection;
        _postgres = postgres;
        _claim = claim;
        Writer = new StoreWriter(this, maxBatch);
    }

    public StoreDialect Dialect { get; }

    /// <summary>"SQLite database /path/chat.db" or "PostgreSQL database chat on host:port": how messages name it.</summary>
    public string Description { get; }

    /// <summary>Made when the database was created: nodes of one cluster check that they share the same database.</summary>
    public string Id { get; }

    public StoreWriter Writer { get; }

    /// <summary>SQLite: pages the file may grow to (store.max-size), 0 for no limit.</summary>
    public long MaxPages { get; }

    /// <summary>Opens and checks the database <paramref name="settings"/> name, creating its tables on first use.
    /// <paramref name="shared"/>: this node is one of a cluster's nodes, which share the database; otherwise it is a
    /// single server, which must be the only one using it.</summary>
    /// <exception cref="StoreException">The database cannot be used; the message says why.</exception>
    public static StoreDatabase Open(StoreSettings settings, bool shared)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.Kind == StoreKind.Sqlite ? OpenSqlite(settings, shared) : OpenPostgres(settings, shared);
    }

    /// <summary>A new open connection for reading (pooled), set up as every connection of ours is.</summary>
    public DbConnection OpenConnection()
    {
        if (_postgres is not null) return _postgres.OpenConnection();
        var connection = new SqliteConnection(_sqliteConnection);
        try
        {
            connection.Open();
            Prepare(connection, _syncFull);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken ct)
    {
        if (_postgres is not null) return await _postgres.OpenConnectionAsync(ct);
        return OpenConnection();
    }

    /// <summary>Per connection (SQLite keeps these per connection, not in the file): by default commits that do not wait
    /// for the disk (WAL with synchronous=NORMAL survives a crash of the process, not of the machine; FULL, with
    /// store.sqlite-synchronous = full, survives both at the cost of a sync per commit; docs/OPERATIONS.md), and a wait
    /// for a lock instead of an immediate "database is locked".</summary>
    private static void Prepare(SqliteConnection connection, bool syncFull)
    {
        using var pragmas = connection.CreateCommand();
        pragmas.CommandText = $"PRAGMA synchronous = {(syncFull ? "FULL" : "NORMAL")}; PRAGMA busy_timeout = 5000;";
        pragmas.ExecuteNonQuery();
    }

    public void Dispose()
    {
        Writer.Dispose();
        _postgres?.Dispose();
        _claim.Dispose();
        if (_sqliteConnection.Length > 0) SqliteConnection.ClearAllPools();
    }

    // ---------------------------------------------------------------- SQLite

    private static StoreDatabase OpenSqlite(StoreSettings settings, bool shared)
    {
        var file = settings.SqliteFile;
        var name = $"SQLite database {file}";
        CheckHeader(file, name);
        var folder = Path.GetDirectoryName(file)!;
        try
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
            else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"{name}: its folder cannot be made ({e.Message})", e);
        }
        var claim = Claim(file + ".lock", shared, name);
        try
        {
            OwnerOnly(file, name);
            var connection = new SqliteConnectionStringBuilder
            {
                DataSource = file,
                Mode = SqliteOpenMode.ReadWrite,
                Pooling = true,
                // Microsoft.Data.Sqlite retries a busy statement until this runs out, whatever busy_timeout says:
                // a writer locked out by another program gives up within seconds and says so (StoreWriter).
                DefaultTimeout = 3,
            }.ToString();
            string id;
            try
            {
                using var db = new SqliteConnection(connection);
                db.Open();
                Prepare(db, settings.SqliteSyncFull);
                id = InitializeSqlite(db, name);
            }
            catch (SqliteException e)
            {
                throw new StoreException(e.SqliteErrorCode switch
                {
                    11 or 26 => $"{name} is damaged or not a database ({e.Message}); move it away to start with an empty one",
                    8 => $"{name} cannot be written (read-only: {e.Message})",
                    13 => $"{name}: the disk is full ({e.Message})",
                    _ => $"{name} cannot be opened: {e.Message}",
                }, e);
            }
            return new StoreDatabase(StoreDialect.Sqlite, name, id, connection, null, claim, settings.MaxBatch,
                settings.MaxSize > 0 ? Math.Max(1, settings.MaxSize / 4096) : 0, settings.SqliteSyncFull);
        }
        catch
        {
            claim.Dispose();
            throw;
        }
    }

    /// <summary>Reads the file's header before SQLite does: a file that is not SQLite at all, or SQLite of another
    /// program (application id), or of a newer schema, is named as such.</summary>
    private static void CheckHeader(string file, string name)
    {
        if (!File.Exists(file)) return;
        var header = new byte[100];
        int read;
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"{name} cannot be read: {e.Message}", e);
        }
        if (read == 0) return; // an empty file: a new database
        if (read < header.Length || !header.AsSpan(0, 16).SequenceEqual("SQLite format 3\0"u8))
            throw new StoreException($"{name} is not a SQLite database (damaged, or another kind of file); move it away to start with an empty one");
        var application = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(68, 4));
        if (application != 0 && application != ApplicationId)
            throw new StoreException($"{name} belongs to another program (SQLite application id 0x{application:x8}); choose another file with store.sqlite-file");
        var version = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(60, 4));
        if (application == ApplicationId && version > StoreDialect.SchemaVersion)
            throw new StoreException($"{name} was written by a newer version of this program (schema {version}; this one knows {StoreDialect.SchemaVersion})");
    }

    /// <summary>Creates the schema on a new file, or checks that an existing one is ours. Returns the database's id.</summary>
    private static string InitializeSqlite(SqliteConnection db, string name)
    {
        // WAL lives in the file once set: readers never wait for the writer.
        Exec(db, "PRAGMA journal_mode = WAL");
        var application = Scalar<long>(db, "PRAGMA application_id");
        var tables = new List<string>();
        using (var list = db.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        if (application == 0 && tables.Count > 0)
            throw new StoreException($"{name} holds another program's tables ({string.Join(", ", tables.Take(5))}); choose another file with store.sqlite-file");
        using (var transaction = db.BeginTransaction())
        {
            foreach (var statement in StoreDialect.Sqlite.CreateSchema) Exec(db, statement, transaction);
            Exec(db, $"PRAGMA application_id = {ApplicationId}", transaction);
            Exec(db, $"PRAGMA user_version = {StoreDialect.SchemaVersion}", transaction);
            var id = EnsureId(db, transaction);
            transaction.Commit();
            return id;
        }
    }

    /// <summary>One single server at a time (an exclusive lock), or the nodes of a cluster together (shared locks): two
    /// independent servers writing one database would each believe they own its rooms.</summary>
    private static FileStream Claim(string lockFile, bool shared, string name)
    {
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                // .NET takes flock(LOCK_EX) for FileShare.None, and LOCK_SH for a read-only open that shares reading.
                Access = shared ? FileAccess.Read : FileAccess.ReadWrite,
                Share = shared ? FileShare.ReadWrite : FileShare.None,
            };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            return new FileStream(lockFile, options);
        }
        catch (IOException e)
        {
            throw new StoreException(shared
                ? $"{name} is in use by a single server (not a cluster node); stop it, or give this node another store.sqlite-file"
                : $"{name} is in use by another server; stop it, or give this one another state-dir or store.sqlite-file", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreException($"{name}: its lock file {lockFile} cannot be opened ({e.Message})", e);
        }
    }

    /// <summary>The file (made here when new, so it never exists readable by others) is readable by its owner only.</summary>
    private static void OwnerOnly(string file, string name)
    {
        if (OperatingSystem.IsWindows()) return;
        const UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            if (!File.Exists(file))
            {
                using var created = new FileStream(file, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode });
                return;
            }
            foreach (var path in new[] { file, file + "-wal", file + "-shm" })
            {
                if (File.Exists(path) && (File.GetUnixFileMode(path) & ~mode) != 0) File.SetUnixFileMode(path, mode);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"{name} cannot be made readable by its owner only ({e.Message})", e);
        }
    }

    // ---------------------------------------------------------------- PostgreSQL

    private static StoreDatabase OpenPostgres(StoreSettings settings, bool shared)
    {
        NpgsqlDataSource source;
        string name;
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(settings.Postgres);
            name = $"PostgreSQL database {builder.Database ?? builder.Username} on {builder.Host}:{builder.Port}";
            source = NpgsqlDataSource.Create(builder);
        }
        catch (ArgumentException e)
        {
            throw new StoreException($"store.postgres is not a valid connection string: {e.Message}", e);
        }
        NpgsqlConnection? claim = null;
        try
        {
            claim = source.OpenConnection();
            // Advisory locks: one single server, or a cluster's nodes together (as the SQLite lock file).
            var locked = Scalar<bool>(claim, shared
                ? $"SELECT pg_try_advisory_lock_shared({ApplicationId})"
                : $"SELECT pg_try_advisory_lock({ApplicationId})");
            if (!locked)
                throw new StoreException(shared
                    ? $"{name} is in use by a single server (not a cluster node); stop it, or give this node another database"
                    : $"{name} is in use by another server; stop it, or give this one another database");
            string id;
            using (var transaction = claim.BeginTransaction())
            {
                // Nodes starting together create the schema one at a time.
                Exec(claim, $"SELECT pg_advisory_xact_lock({ApplicationId + 1})", transaction);
                foreach (var statement in StoreDialect.Postgres.CreateSchema) Exec(claim, statement, transaction);
                var version = Meta(claim, transaction, "schema");
                if (version is not null && int.TryParse(version, out var v) && v > StoreDialect.SchemaVersion)
                    throw new StoreException($"{name} was written by a newer version of this program (schema {v}; this one knows {StoreDialect.SchemaVersion})");
                SetMeta(claim, transaction, "schema", StoreDialect.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
                id = EnsureId(claim, transaction);
                transaction.Commit();
            }
            return new StoreDatabase(StoreDialect.Postgres, name, id, "", source, claim, settings.MaxBatch, 0);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            claim?.Dispose();
            source.Dispose();
            throw new StoreException($"{name} cannot be used: {e.Message}", e);
        }
        catch
        {
            claim?.Dispose();
            source.Dispose();
            throw;
        }
    }

    // ---------------------------------------------------------------- shared

    private static string EnsureId(DbConnection db, DbTransaction transaction)
    {
        SetMeta(db, transaction, "id", Guid.NewGuid().ToString("N"));
        return Meta(db, transaction, "id")!;
    }

    private static string? Meta(DbConnection db, DbTransaction transaction, string key)
    {
        using var command = db.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = StoreDialect.SelectMeta;
        Parameter(command, "@name", key);
        return command.ExecuteScalar() as string;
    }

    /// <summary>Sets <paramref name="key"/> unless it is set already.</summary>
    private static void SetMeta(DbConnection db, DbTransaction transaction, string key, string value)
    {
        using var command = db.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = StoreDialect.InsertMeta;
        Parameter(command, "@name", key);
        Parameter(command, "@value", value);
        command.ExecuteNonQuery();
    }

    internal static void Parameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    private static void Exec(DbConnection db, string sql, DbTransaction? transaction = null)
    {
        using var command = db.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(DbConnection db, string sql)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        return (T)Convert.ChangeType(command.ExecuteScalar()!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}
