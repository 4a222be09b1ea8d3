using System.Data.Common;

namespace AkkaTcpTransfer.Store;

/// <summary>One stored event or snapshot as the database holds it: the serializer that wrote it, its manifest, its bytes.</summary>
internal readonly record struct StoredRow(string PersistenceId, long SequenceNr, long AtUnixMs, int SerializerId, string Manifest, byte[] Payload);

/// <summary>The changes the journal and the snapshot store make, as jobs for the <see cref="StoreWriter"/>.</summary>
internal static class StoreJobs
{
    public sealed class WriteEvents(IReadOnlyList<StoredRow> rows) : StoreWriter.Job
    {
        public override int Rows => rows.Count;

        public override void Run(StoreWriter.Statements statements)
        {
            var insert = statements.Command(StoreDialect.InsertEvent, "@pid", "@seq", "@at", "@ser", "@man", "@payload");
            foreach (var row in rows)
            {
                insert.Parameters[0].Value = row.PersistenceId;
                insert.Parameters[1].Value = row.SequenceNr;
                insert.Parameters[2].Value = row.AtUnixMs;
                insert.Parameters[3].Value = row.SerializerId;
                insert.Parameters[4].Value = row.Manifest;
                insert.Parameters[5].Value = row.Payload;
                insert.ExecuteNonQuery();
            }
        }
    }

    /// <summary>Deletes the events of <paramref name="persistenceId"/> up to <paramref name="toSequenceNr"/>; the last
    /// of them stays as a tombstone without its payload, keeping the highest sequence number.</summary>
    public sealed class DeleteEvents(string persistenceId, long toSequenceNr) : StoreWriter.Job
    {
        public override int Rows => 1;

        public override void Run(StoreWriter.Statements statements)
        {
            var highest = statements.Command(StoreDialect.SelectHighestUpTo, "@pid", "@to");
            highest.Parameters[0].Value = persistenceId;
            highest.Parameters[1].Value = toSequenceNr;
            if (highest.ExecuteScalar() is not { } value || value is DBNull) return;
            var last = Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
            var delete = statements.Command(StoreDialect.DeleteEventsBelow, "@pid", "@seq");
            delete.Parameters[0].Value = persistenceId;
            delete.Parameters[1].Value = last;
            delete.ExecuteNonQuery();
            var mark = statements.Command(statements.Dialect.MarkDeleted, "@pid", "@seq");
            mark.Parameters[0].Value = persistenceId;
            mark.Parameters[1].Value = last;
            mark.ExecuteNonQuery();
        }
    }

    /// <summary>The highest sequence number of <paramref name="persistenceId"/>, read in order with the writes queued
    /// before it (an entity that restarts must not reuse the number of a write still on its way).</summary>
    public sealed class Highest(string persistenceId) : StoreWriter.Job<long>
    {
        public override int Rows => 0;

        public override void Run(StoreWriter.Statements statements)
        {
            var highest = statements.Command(StoreDialect.SelectHighest, "@pid");
            highest.Parameters[0].Value = persistenceId;
            Result = highest.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        }
    }

    public sealed class SaveSnapshot(StoredRow row) : StoreWriter.Job
    {
        public override int Rows => 1;

        public override void Run(StoreWriter.Statements statements)
        {
            var upsert = statements.Command(StoreDialect.UpsertSnapshot, "@pid", "@seq", "@at", "@ser", "@man", "@payload");
            upsert.Parameters[0].Value = row.PersistenceId;
            upsert.Parameters[1].Value = row.SequenceNr;
            upsert.Parameters[2].Value = row.AtUnixMs;
            upsert.Parameters[3].Value = row.SerializerId;
            upsert.Parameters[4].Value = row.Manifest;
            upsert.Parameters[5].Value = row.Payload;
            upsert.ExecuteNonQuery();
        }
    }

    public sealed class DeleteSnapshots(string persistenceId, long minSeq, long maxSeq, long minAt, long maxAt) : StoreWriter.Job
    {
        public override int Rows => 1;

        public override void Run(StoreWriter.Statements statements)
        {
            var delete = statements.Command(StoreDialect.DeleteSnapshots, "@pid", "@maxSeq", "@maxAt", "@minSeq", "@minAt");
            delete.Parameters[0].Value = persistenceId;
            delete.Parameters[1].Value = maxSeq;
            delete.Parameters[2].Value = maxAt;
            delete.Parameters[3].Value = minSeq;
            delete.Parameters[4].Value = minAt;
            delete.ExecuteNonQuery();
        }
    }

    /// <summary>Reads rows of a query on a connection of its own (never the writer's), streaming them one at a time.</summary>
    public static async Task ReadAsync(StoreDatabase database, string sql, Action<DbCommand> parameters, Action<DbDataReader> row, CancellationToken ct)
    {
        // SQLite's driver runs its "async" calls synchronously: off the caller's thread (an actor's) it goes.
        if (database.Dialect == StoreDialect.Sqlite)
        {
            await Task.Run(() => Read(database, sql, parameters, row, ct), ct);
            return;
        }
        await using var connection = await database.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        parameters(command);
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) row(reader);
    }

    private static void Read(StoreDatabase database, string sql, Action<DbCommand> parameters, Action<DbDataReader> row, CancellationToken ct)
    {
        using var connection = database.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        parameters(command);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            ct.ThrowIfCancellationRequested();
            row(reader);
        }
    }

    public static byte[] Bytes(DbDataReader reader, int column) => (byte[])reader.GetValue(column);
}
