using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Query;
using Akka.Persistence.Snapshot;
using Akka.Streams.Dsl;
using Akka.Util;

namespace AkkaTcpTransfer.Store;

/// <summary>Hands the node's open <see cref="StoreDatabase"/> to the persistence plugins Akka creates (they are made by
/// Akka from configuration, with no way to pass them an object): the node opens and checks the database before its
/// actor system exists, and puts it in the system's setup.</summary>
internal sealed class StoreSetup(StoreDatabase database) : Setup
{
    public StoreDatabase Database { get; } = database;
}

internal sealed class StoreExtension(StoreDatabase database) : IExtension
{
    public StoreDatabase Database { get; } = database;

    public static StoreDatabase Of(ActorSystem system) => system.WithExtension<StoreExtension, StoreExtensionProvider>().Database;
}

internal sealed class StoreExtensionProvider : ExtensionIdProvider<StoreExtension>
{
    public override StoreExtension CreateExtension(ExtendedActorSystem system)
    {
        var setup = system.Settings.Setup.Get<StoreSetup>();
        if (!setup.HasValue) throw new ConfigurationException("this actor system has no database: a server opens its store (StoreSetup) before it starts");
        return new StoreExtension(setup.Value.Database);
    }
}

/// <summary>What the journal, the snapshot store and the read side share: turning a stored row into the object it
/// holds and back, with whatever serializer Akka binds to its type (ours, <see cref="StoreSerializer"/>, for
/// everything this program stores: a row names its serializer by number and its type by a short manifest, never a CLR
/// type name).</summary>
internal static class StoredRows
{
    public static StoredRow Of(Akka.Serialization.Serialization serialization, string persistenceId, long sequenceNr, long atUnixMs, object payload)
    {
        var serializer = serialization.FindSerializerFor(payload);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, payload);
        return new StoredRow(persistenceId, sequenceNr, atUnixMs, serializer.Identifier, manifest, serializer.ToBinary(payload));
    }

    public static object Payload(Akka.Serialization.Serialization serialization, int serializerId, string manifest, byte[] bytes) =>
        serialization.Deserialize(bytes, serializerId, manifest);

    public static long UnixMs(DateTime time)
    {
        if (time == DateTime.MaxValue) return long.MaxValue;
        if (time == DateTime.MinValue) return long.MinValue;
        return new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)).ToUnixTimeMilliseconds();
    }
}

/// <summary>Akka.Persistence's journal over our database (SQLite or PostgreSQL): one table, one row per event, keyed
/// by entity and sequence number. Writes go through the node's one <see cref="StoreWriter"/> (group commit); a write
/// the database certainly did not take (full, locked, read-only) is a rejection, which the entity survives and its
/// senders hear of; one it may have taken is a failure, which stops the entity (Akka's rule). Why our own journal rather
/// than Akka.Persistence.Sql: docs/PERFORMANCE.md, "History".</summary>
internal sealed class StoreJournal : AsyncWriteJournal
{
    private readonly StoreDatabase _database;
    private readonly Akka.Serialization.Serialization _serialization;

    public StoreJournal()
    {
        _database = StoreExtension.Of(Context.System);
        _serialization = Context.System.Serialization;
    }

    protected override async Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        var outcome = new Exception?[writes.Count];
        var rejected = false;
        var rows = new List<StoredRow>();
        var atMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 0; i < writes.Count; i++)
        {
            var mark = rows.Count;
            try
            {
                foreach (var persistent in (IImmutableList<IPersistentRepresentation>)writes[i].Payload)
                {
                    var payload = persistent.Payload is Tagged tagged ? tagged.Payload : persistent.Payload;
                    rows.Add(StoredRows.Of(_serialization, persistent.PersistenceId, persistent.SequenceNr, atMs, payload));
                }
            }
            catch (Exception e) when (e is System.Runtime.Serialization.SerializationException or ArgumentException or NotSupportedException)
            {
                // Nothing of it is stored: a rejection (the entity goes on; its event is not).
                rows.RemoveRange(mark, rows.Count - mark);
                outcome[i] = e;
                rejected = true;
            }
        }
        if (rows.Count > 0)
        {
            try
            {
                await _database.Writer.Enqueue(new StoreJobs.WriteEvents(rows));
            }
            catch (StoreWriteException e) when (e.Certain)
            {
                for (var i = 0; i < outcome.Length; i++) outcome[i] ??= e;
                rejected = true;
            }
        }
        return rejected ? [.. outcome] : null!;
    }

    public override async Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        if (max <= 0 || toSequenceNr < fromSequenceNr) return;
        await StoreJobs.ReadAsync(_database, StoreDialect.SelectEvents, command =>
        {
            StoreDatabase.Parameter(command, "@pid", persistenceId);
            StoreDatabase.Parameter(command, "@from", fromSequenceNr);
            StoreDatabase.Parameter(command, "@to", toSequenceNr);
            StoreDatabase.Parameter(command, "@max", max);
        }, reader =>
        {
            var payload = StoredRows.Payload(_serialization, reader.GetInt32(2), reader.GetString(3), StoreJobs.Bytes(reader, 4));
            recoveryCallback(new Persistent(payload, reader.GetInt64(0), persistenceId, "", false, ActorRefs.NoSender, "", reader.GetInt64(1)));
        }, CancellationToken.None);
    }

    public override async Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        var job = new StoreJobs.Highest(persistenceId);
        await _database.Writer.Enqueue(job);
        return job.Result;
    }

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken) =>
        _database.Writer.Enqueue(new StoreJobs.DeleteEvents(persistenceId, toSequenceNr));
}

/// <summary>Akka.Persistence's snapshot store over the same database: the newest snapshot of an entity is one row.</summary>
internal sealed class StoreSnapshots : SnapshotStore
{
    private readonly StoreDatabase _database;
    private readonly Akka.Serialization.Serialization _serialization;

    public StoreSnapshots()
    {
        _database = StoreExtension.Of(Context.System);
        _serialization = Context.System.Serialization;
    }

    protected override async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        SelectedSnapshot? found = null;
        await StoreJobs.ReadAsync(_database, StoreDialect.SelectSnapshot, command =>
        {
            StoreDatabase.Parameter(command, "@pid", persistenceId);
            StoreDatabase.Parameter(command, "@maxSeq", criteria.MaxSequenceNr);
            StoreDatabase.Parameter(command, "@maxAt", StoredRows.UnixMs(criteria.MaxTimeStamp));
            StoreDatabase.Parameter(command, "@minSeq", criteria.MinSequenceNr);
            StoreDatabase.Parameter(command, "@minAt", StoredRows.UnixMs(criteria.MinTimestamp ?? DateTime.MinValue));
        }, reader =>
        {
            var at = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)).UtcDateTime;
            var snapshot = StoredRows.Payload(_serialization, reader.GetInt32(2), reader.GetString(3), StoreJobs.Bytes(reader, 4));
            found = new SelectedSnapshot(new SnapshotMetadata(persistenceId, reader.GetInt64(0), at), snapshot);
        }, cancellationToken);
        return found;
    }

    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken) =>
        _database.Writer.Enqueue(new StoreJobs.SaveSnapshot(StoredRows.Of(_serialization, metadata.PersistenceId, metadata.SequenceNr,
            StoredRows.UnixMs(metadata.Timestamp), snapshot)));

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken) =>
        _database.Writer.Enqueue(new StoreJobs.DeleteSnapshots(metadata.PersistenceId, metadata.SequenceNr, metadata.SequenceNr, long.MinValue, long.MaxValue));

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken) =>
        _database.Writer.Enqueue(new StoreJobs.DeleteSnapshots(persistenceId, criteria.MinSequenceNr, criteria.MaxSequenceNr,
            StoredRows.UnixMs(criteria.MinTimestamp ?? DateTime.MinValue), StoredRows.UnixMs(criteria.MaxTimeStamp)));
}

/// <summary>Akka.Persistence.Query's read side over the same database: an entity's stored events as an Akka.Streams
/// source, read a page at a time as the consumer pulls (history goes to a client at the pace its connection takes it,
/// never all in memory).</summary>
internal sealed class StoreReadJournal(StoreDatabase database, Akka.Serialization.Serialization serialization) : IReadJournal, ICurrentEventsByPersistenceIdQuery
{
    /// <summary>The identifier in configuration (akka.persistence.query.journal.attp).</summary>
    public const string Identifier = "akka.persistence.query.journal.attp";

    private const int PageSize = 100;

    public Source<EventEnvelope, NotUsed> CurrentEventsByPersistenceId(string persistenceId, long fromSequenceNr, long toSequenceNr) =>
        Source.UnfoldAsync<long, IReadOnlyList<EventEnvelope>>(Math.Max(1, fromSequenceNr), async next =>
        {
            if (next > toSequenceNr) return Option<(long, IReadOnlyList<EventEnvelope>)>.None;
            var page = await ReadPage(persistenceId, next, toSequenceNr);
            return page.Count == 0
                ? Option<(long, IReadOnlyList<EventEnvelope>)>.None
                : Option<(long, IReadOnlyList<EventEnvelope>)>.Create((page[^1].SequenceNr + 1, page));
        }).SelectMany(page => page);

    private async Task<IReadOnlyList<EventEnvelope>> ReadPage(string persistenceId, long from, long to)
    {
        var page = new List<EventEnvelope>(PageSize);
        await StoreJobs.ReadAsync(database, StoreDialect.SelectEvents, command =>
        {
            StoreDatabase.Parameter(command, "@pid", persistenceId);
            StoreDatabase.Parameter(command, "@from", from);
            StoreDatabase.Parameter(command, "@to", to);
            StoreDatabase.Parameter(command, "@max", (long)PageSize);
        }, reader =>
        {
            var sequenceNr = reader.GetInt64(0);
            var payload = StoredRows.Payload(serialization, reader.GetInt32(2), reader.GetString(3), StoreJobs.Bytes(reader, 4));
            page.Add(new EventEnvelope(Offset.Sequence(sequenceNr), persistenceId, sequenceNr, payload, reader.GetInt64(1), []));
        }, CancellationToken.None);
        return page;
    }
}

/// <summary>Made by Akka.Persistence.Query from configuration (its constructor's shape is Akka's convention).</summary>
internal sealed class StoreReadJournalProvider : IReadJournalProvider
{
    private readonly ExtendedActorSystem _system;

    public StoreReadJournalProvider(ExtendedActorSystem system, Config config)
    {
        // The configuration holds nothing for us beyond the class name.
        ArgumentNullException.ThrowIfNull(config);
        _system = system;
    }

    public IReadJournal GetReadJournal() => new StoreReadJournal(StoreExtension.Of(_system), _system.Serialization);
}
