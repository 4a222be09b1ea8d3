using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AkkaTcpTransfer.Store;

/// <summary>Every change to the database goes through here, on one thread with one connection: whatever arrived while
/// a transaction committed is committed together in the next (group commit), so a thousand lines cost a few
/// transactions rather than a thousand, and each line waits for at most one commit ahead of its own. A batch that fails
/// is tried again one job at a time, so that one bad write fails alone. Each job learns its outcome through its task;
/// the failure says whether the job certainly did not happen (<see cref="StoreWriteException.Certain"/>).</summary>
internal sealed class StoreWriter : IDisposable
{
    /// <summary>One change: some statements run in the writer's transaction.</summary>
    internal abstract class Job
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Done => _done.Task;

        /// <summary>Rows it writes, for the batch limit.</summary>
        public abstract int Rows { get; }

        public abstract void Run(Statements statements);

        public void Succeed() => _done.TrySetResult();

        public void Fail(Exception e) => _done.TrySetException(e);
    }

    /// <summary>A job that also reads an answer (the highest sequence number, in order with the writes before it).</summary>
    internal abstract class Job<T> : Job
    {
        public T Result { get; protected set; } = default!;
    }

    private readonly StoreDatabase _database;
    private readonly int _maxBatch;
    private readonly BlockingCollection<Job> _queue = new();
    private readonly Thread _thread;
    private DbConnection? _connection;
    private Statements? _statements;

    public StoreWriter(StoreDatabase database, int maxBatch)
    {
        _database = database;
        _maxBatch = maxBatch;
        _thread = new Thread(Run) { IsBackground = true, Name = "akka-tcp-transfer store writer" };
        _thread.Start();
    }

    /// <summary>Commits so far and the jobs they carried (for the benchmark's report of the batching).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    public long Jobs => Interlocked.Read(ref _jobs);

    private long _commits;
    private long _jobs;

    public Task Enqueue(Job job)
    {
        try
        {
            _queue.Add(job);
        }
        catch (InvalidOperationException)
        {
            job.Fail(new StoreWriteException("the server is stopping: the database is closed", certain: true));
        }
        return job.Done;
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        if (Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(10));
        _statements?.Dispose();
        _connection?.Dispose();
    }

    private void Run()
    {
        var batch = new List<Job>();
        foreach (var first in _queue.GetConsumingEnumerable())
        {
            batch.Clear();
            batch.Add(first);
            var rows = first.Rows;
            while (rows < _maxBatch && _queue.TryTake(out var next))
            {
                batch.Add(next);
                rows += next.Rows;
            }
            if (!TryCommit(batch, out var failure))
            {
                if (batch.Count == 1) batch[0].Fail(failure!);
                // One at a time: each job learns its own outcome.
                else foreach (var job in batch) TryAlone(job);
                continue;
            }
            foreach (var job in batch) job.Succeed();
        }
    }

    private void TryAlone(Job job)
    {
        List<Job> one = [job];
        if (TryCommit(one, out var failure)) job.Succeed();
        else job.Fail(failure!);
    }

    private bool TryCommit(List<Job> batch, out StoreWriteException? failure)
    {
        failure = null;
        DbTransaction? transaction = null;
        try
        {
            var statements = Connect();
            transaction = _connection!.BeginTransaction();
            statements.Begin(transaction);
            foreach (var job in batch) job.Run(statements);
            transaction.Commit();
            Interlocked.Increment(ref _commits);
            Interlocked.Add(ref _jobs, batch.Count);
            return true;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or TimeoutException)
        {
            failure = Describe(e);
            try
            {
                transaction?.Rollback();
            }
            catch (Exception rollback) when (rollback is DbException or InvalidOperationException or IOException)
            {
                // The connection is broken: it is opened again for the next batch.
                Disconnect();
            }
            if (!failure.Certain) Disconnect();
            return false;
        }
        finally
        {
            transaction?.Dispose();
        }
    }

    private Statements Connect()
    {
        if (_connection is { State: System.Data.ConnectionState.Open } && _statements is not null) return _statements;
        Disconnect();
        _connection = _database.OpenConnection();
        if (_connection is SqliteConnection sqlite)
        {
            // A bounded wait for another process's lock (a cluster node sharing the file), then a clear failure: well
            // inside chat.confirm-timeout, so that the sender hears "not stored" rather than "not confirmed".
            using var busy = sqlite.CreateCommand();
            busy.CommandText = "PRAGMA busy_timeout = 2000";
            busy.ExecuteNonQuery();
            if (_database.MaxPages > 0)
            {
                busy.CommandText = $"PRAGMA max_page_count = {_database.MaxPages}";
                busy.ExecuteNonQuery();
            }
        }
        _statements = new Statements(_connection, _database.Dialect);
        return _statements;
    }

    private void Disconnect()
    {
        _statements?.Dispose();
        _statements = null;
        _connection?.Dispose();
        _connection = null;
    }

    /// <summary>What went wrong, in a user's words, and whether the change certainly did not happen. SQLite rolls a
    /// failed transaction back entirely; a PostgreSQL server that reported an error did too, but one that stopped
    /// answering may or may not have committed. A broken uniqueness rule means two writers for one entity (a node
    /// that should have stopped), which the entity must not survive: that is never "certain".</summary>
    private StoreWriteException Describe(Exception e)
    {
        var what = _database.Description;
        return e switch
        {
            SqliteException { SqliteErrorCode: 13 } => new StoreWriteException($"{what} is full", certain: true, e),
            SqliteException { SqliteErrorCode: 5 or 6 } => new StoreWriteException($"{what} is locked by another program", certain: true, e),
            SqliteException { SqliteErrorCode: 8 } => new StoreWriteException($"{what} is read-only", certain: true, e),
            SqliteException { SqliteErrorCode: 10 } => new StoreWriteException($"{what} cannot be written (I/O error)", certain: true, e),
            SqliteException { SqliteErrorCode: 11 or 26 } => new StoreWriteException($"{what} is damaged", certain: true, e),
            SqliteException { SqliteErrorCode: 19 } => new StoreWriteException($"{what}: another writer got there first ({e.Message})", certain: false, e),
            SqliteException s => new StoreWriteException($"{what}: {s.Message}", certain: true, e),
            PostgresException { SqlState: "23505" } => new StoreWriteException($"{what}: another writer got there first ({e.Message})", certain: false, e),
            PostgresException { SqlState: "53100" } => new StoreWriteException($"{what} is full", certain: true, e),
            PostgresException { SqlState: "25006" } => new StoreWriteException($"{what} is read-only", certain: true, e),
            PostgresException p => new StoreWriteException($"{what}: {p.MessageText}", certain: true, e),
            _ => new StoreWriteException($"{what} did not answer ({e.Message})", certain: false, e),
        };
    }

    /// <summary>The writer's prepared statements, on its one connection.</summary>
    internal sealed class Statements : IDisposable
    {
        private readonly DbConnection _connection;
        private readonly StoreDialect _dialect;
        private readonly Dictionary<string, DbCommand> _commands = [];

        public Statements(DbConnection connection, StoreDialect dialect)
        {
            _connection = connection;
            _dialect = dialect;
        }

        public StoreDialect Dialect => _dialect;

        private DbTransaction? _transaction;

        public void Begin(DbTransaction transaction)
        {
            _transaction = transaction;
            foreach (var command in _commands.Values) command.Transaction = transaction;
        }

        /// <summary>The command for <paramref name="sql"/>, made once with parameters <paramref name="names"/> and reused.</summary>
        public DbCommand Command(string sql, params string[] names)
        {
            if (_commands.TryGetValue(sql, out var command)) return command;
            command = _connection.CreateCommand();
            command.CommandText = sql;
            command.CommandTimeout = _dialect.WriteTimeoutSeconds;
            command.Transaction = _transaction;
            foreach (var name in names)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = name;
                command.Parameters.Add(parameter);
            }
            _commands[sql] = command;
            return command;
        }

        public void Dispose()
        {
            foreach (var command in _commands.Values) command.Dispose();
            _commands.Clear();
        }
    }
}

/// <summary>A change the database did not take. <see cref="Certain"/>: it certainly did not happen (nothing of it is
/// stored); otherwise it may or may not have.</summary>
internal sealed class StoreWriteException : Exception
{
    public StoreWriteException(string message, bool certain, Exception? inner = null) : base(message, inner) => Certain = certain;

    public bool Certain { get; }
}
