using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Store;
using Microsoft.Data.Sqlite;

namespace AkkaTcpTransfer.Tests.Store;

/// <summary>What our journal, snapshot store and read side promise on either database, through Akka.Persistence
/// itself: what an entity persisted comes back on recovery, in order; deletes keep numbering; snapshots load; the read
/// side pages. <see cref="StoreJournalTests"/> runs it on SQLite, <see cref="PostgresStoreTests"/> on PostgreSQL.</summary>
public abstract class StoreContract
{
    /// <summary>The same database each time it is asked for (a test reopens it to see what survived).</summary>
    private protected abstract StoreDatabase Open();

    private protected sealed record Persisted(long Seq);

    private protected sealed record Rejected(string Reason);

    private protected sealed record GetState;

    private protected sealed record State(List<string> Lines, long LastSeq, bool FromSnapshot);

    private protected sealed record Snap;

    /// <summary>An entity that persists a line per string it is told and reports what it recovered.</summary>
    private protected sealed class Lines : ReceivePersistentActor
    {
        private readonly List<string> _lines = [];
        private bool _fromSnapshot;
        private IActorRef? _asker;

        public override string PersistenceId { get; }

        public Lines(string id)
        {
            PersistenceId = id;
            Recover<LineSaid>(l => _lines.Add(l.Text));
            Recover<SnapshotOffer>(o =>
            {
                _fromSnapshot = true;
                _lines.AddRange(((RoomSnapshot)o.Snapshot).Recent.Select(r => r.Text));
            });
            Command<string>(text =>
            {
                _asker = Sender;
                Persist(new LineSaid("t", 0, text), l =>
                {
                    _lines.Add(l.Text);
                    Sender.Tell(new Persisted(LastSequenceNr));
                });
            });
            Command<GetState>(_ => Sender.Tell(new State([.. _lines], LastSequenceNr, _fromSnapshot)));
            Command<long>(to => { _asker = Sender; DeleteMessages(to); });
            Command<DeleteMessagesSuccess>(d => _asker!.Tell(d));
            Command<Snap>(_ =>
            {
                _asker = Sender;
                SaveSnapshot(new RoomSnapshot("r", 0, "", "", 0, [], [.. _lines.Select((l, i) => new RecentLine(i, "t", 0, l))], [], 0));
            });
            Command<SaveSnapshotSuccess>(s => _asker!.Tell(s));
        }

        protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr) => _asker?.Tell(new Rejected(cause.Message));
    }

    private protected static async Task<T> WithSystem<T>(StoreDatabase database, Func<ActorSystem, Task<T>> body)
    {
        var config = ConfigurationFactory.ParseString("akka.loglevel = ERROR").WithFallback(NodeConfig.Build(NodeRole.Server));
        var system = ActorSystem.Create("store-test", BootstrapSetup.Create().WithConfig(config).And(new StoreSetup(database)));
        try
        {
            return await body(system);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private protected static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static readonly string[] Three = ["one", "two", "three"];

    [SkippableFact]
    public async Task What_was_persisted_comes_back_in_order_after_a_restart()
    {
        using (var db = Open())
        {
            await WithSystem(db, async system =>
            {
                var entity = system.ActorOf(Props.Create(() => new Lines("room:a")));
                foreach (var text in Three) await entity.Ask<Persisted>(text, Wait);
                return 0;
            });
        }
        using (var db = Open())
        {
            var state = await WithSystem(db, system => system.ActorOf(Props.Create(() => new Lines("room:a"))).Ask<State>(new GetState(), Wait));
            Assert.Equal(["one", "two", "three"], state.Lines);
            Assert.Equal(3, state.LastSeq);
        }
    }

    [SkippableFact]
    public async Task Deleted_events_are_gone_but_numbering_goes_on()
    {
        using var db = Open();
        await WithSystem(db, async system =>
        {
            var entity = system.ActorOf(Props.Create(() => new Lines("room:b")));
            foreach (var text in Three) await entity.Ask<Persisted>(text, Wait);
            await entity.Ask<DeleteMessagesSuccess>(3L, Wait);
            await entity.GracefulStop(Wait);
            var again = system.ActorOf(Props.Create(() => new Lines("room:b")));
            var state = await again.Ask<State>(new GetState(), Wait);
            Assert.Empty(state.Lines);
            Assert.Equal(3, state.LastSeq);
            Assert.Equal(4, (await again.Ask<Persisted>("d", Wait)).Seq);
            return 0;
        });
    }

    [SkippableFact]
    public async Task A_snapshot_is_where_recovery_starts()
    {
        using var db = Open();
        await WithSystem(db, async system =>
        {
            var entity = system.ActorOf(Props.Create(() => new Lines("room:c")));
            foreach (var text in Three.Take(2)) await entity.Ask<Persisted>(text, Wait);
            await entity.Ask<SaveSnapshotSuccess>(new Snap(), Wait);
            await entity.Ask<Persisted>("three", Wait);
            await entity.GracefulStop(Wait);
            var state = await system.ActorOf(Props.Create(() => new Lines("room:c"))).Ask<State>(new GetState(), Wait);
            Assert.True(state.FromSnapshot);
            Assert.Equal(Three, state.Lines);
            return 0;
        });
    }

    [SkippableFact]
    public async Task The_read_side_streams_every_event_a_page_at_a_time()
    {
        using var db = Open();
        await WithSystem(db, async system =>
        {
            var entity = system.ActorOf(Props.Create(() => new Lines("room:d")));
            for (var i = 0; i < 250; i++) await entity.Ask<Persisted>($"line {i}", Wait);
            var journal = PersistenceQuery.Get(system).ReadJournalFor<ICurrentEventsByPersistenceIdQuery>(StoreReadJournal.Identifier);
            var texts = await journal.CurrentEventsByPersistenceId("room:d", 41, 245)
                .Select(e => ((LineSaid)e.Event).Text)
                .RunWith(Sink.Seq<string>(), system.Materializer());
            Assert.Equal(Enumerable.Range(40, 205).Select(i => $"line {i}"), texts);
            return 0;
        });
    }
}

/// <summary>The contract on a real SQLite file, and what is SQLite's own: a full database rejects a write (the entity
/// lives on) without storing anything; the file is its owner's alone; a file that is not ours is refused by name.</summary>
public sealed class StoreJournalTests : StoreContract, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("att-store-").FullName;

    private string File => Path.Combine(_folder, "chat.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    internal static StoreSettings Sqlite(string file, long maxSize = 0) => new(StoreKind.Sqlite, file, "", 1000, maxSize);

    private protected override StoreDatabase Open() => StoreDatabase.Open(Sqlite(File), shared: false);

    [Fact]
    public async Task A_full_database_rejects_a_write_and_the_entity_lives_on()
    {
        // The cap is a few pages past what the schema takes: a line of 64 KiB cannot fit.
        using var db = StoreDatabase.Open(Sqlite(File, maxSize: 64 * 1024), shared: false);
        await WithSystem(db, async system =>
        {
            var entity = system.ActorOf(Props.Create(() => new Lines("room:e")));
            Assert.Equal(1, (await entity.Ask<Persisted>("small", Wait)).Seq);
            var rejected = await entity.Ask<Rejected>(new string('x', 200_000), Wait);
            Assert.Contains("is full", rejected.Reason, StringComparison.Ordinal);
            var state = await entity.Ask<State>(new GetState(), Wait);
            Assert.Equal(["small"], state.Lines);
            return 0;
        });
        using var check = new SqliteConnection($"Data Source={File}");
        check.Open();
        using var count = check.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM attp_events WHERE persistence_id = 'room:e'";
        Assert.Equal(1L, (long)count.ExecuteScalar()!);
    }

    [Fact]
    public async Task A_database_locked_by_another_program_rejects_a_write_clearly_and_the_entity_lives_on()
    {
        using var db = StoreDatabase.Open(Sqlite(File), shared: false);
        await WithSystem(db, async system =>
        {
            var entity = system.ActorOf(Props.Create(() => new Lines("room:l")));
            Assert.Equal(1, (await entity.Ask<Persisted>("before", Wait)).Seq);
            // Another program (a backup tool, a person with sqlite3) holds the write lock past the store's patience.
            using (var other = new SqliteConnection($"Data Source={File}"))
            {
                other.Open();
                using var hold = other.CreateCommand();
                hold.CommandText = "BEGIN EXCLUSIVE";
                hold.ExecuteNonQuery();
                var rejected = await entity.Ask<Rejected>("while locked", Wait);
                Assert.Contains("locked", rejected.Reason, StringComparison.OrdinalIgnoreCase);
                hold.CommandText = "ROLLBACK";
                hold.ExecuteNonQuery();
            }
            // Once the lock is gone the same entity writes again (the rejected line's number stays unused, as Akka
            // numbers a rejected event); nothing of the rejected line was kept.
            Assert.Equal(3, (await entity.Ask<Persisted>("after", Wait)).Seq);
            Assert.Equal(["before", "after"], (await entity.Ask<State>(new GetState(), Wait)).Lines);
            return 0;
        });
    }

    private sealed class NeverPassivate : Server.Entities.IPassivation
    {
        public void Passivate(IActorContext context) { }
    }

    [Fact]
    public async Task A_line_asked_for_again_is_stored_once_and_answered_as_the_first_time()
    {
        // In a cluster a request can be lost with a node that dies, so a session asks again when no answer comes; the
        // room must not store the line twice when the first request was not lost after all.
        using var db = Open();
        await WithSystem(db, async system =>
        {
            var settings = NodeSettings.Read(NodeConfig.Build(NodeRole.Server), NodeRole.Server);
            var room = system.ActorOf(Server.Rooms.RoomActor.Props(Chat.RoomNames.EntityId(""), settings, ActorRefs.Nobody, new NeverPassivate()));
            var first = await room.Ask<Server.Rooms.RoomMessages.Stored>(new Server.Rooms.RoomMessages.StoreLine(1, "alice", "hi", 42, "a1:7"), Wait);
            var again = await room.Ask<Server.Rooms.RoomMessages.Stored>(new Server.Rooms.RoomMessages.StoreLine(2, "alice", "hi", 43, "a1:7"), Wait);
            var next = await room.Ask<Server.Rooms.RoomMessages.Stored>(new Server.Rooms.RoomMessages.StoreLine(3, "alice", "hi", 44, "a1:8"), Wait);
            Assert.Equal((1u, false, 42L), (first.Id, first.Repeat, first.AtMs));
            Assert.Equal((2u, true, first.Seq, 42L), (again.Id, again.Repeat, again.Seq, again.AtMs));
            Assert.Equal((false, first.Seq + 1), (next.Repeat, next.Seq));
            return 0;
        });
        using var check = new SqliteConnection($"Data Source={File}");
        check.Open();
        using var count = check.CreateCommand();
        count.CommandText = "SELECT COUNT(*) FROM attp_events WHERE persistence_id = 'room:'";
        Assert.Equal(2L, (long)count.ExecuteScalar()!);
    }

    [Theory]
    [InlineData("normal", 1L)]
    [InlineData("full", 2L)]
    public void Commits_wait_for_the_disk_when_the_setting_says_full(string setting, long pragma)
    {
        var settings = NodeSettings.Read(NodeConfig.Build(NodeRole.Server, [],
            [("store.sqlite-synchronous", setting), ("store.sqlite-file", File)]), NodeRole.Server).Store;
        using var db = StoreDatabase.Open(settings, shared: false);
        using var connection = db.OpenConnection();
        using var query = connection.CreateCommand();
        query.CommandText = "PRAGMA synchronous";
        Assert.Equal(pragma, Convert.ToInt64(query.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void The_file_is_readable_by_its_owner_only()
    {
        if (OperatingSystem.IsWindows()) return;
        using var db = StoreDatabase.Open(Sqlite(File), shared: false);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, System.IO.File.GetUnixFileMode(File));
    }

    [Fact]
    public void A_file_that_is_not_a_database_is_refused_by_name()
    {
        System.IO.File.WriteAllText(File, "these are someone's notes, not a database\n" + new string('.', 200));
        var e = Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: false));
        Assert.Contains(File, e.Message, StringComparison.Ordinal);
        Assert.Contains("not a SQLite database", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Another_programs_database_is_refused_by_name()
    {
        using (var other = new SqliteConnection($"Data Source={File}"))
        {
            other.Open();
            using var create = other.CreateCommand();
            create.CommandText = "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)";
            create.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
        var e = Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: false));
        Assert.Contains("another program's tables (invoices)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_database_damaged_past_its_header_is_refused_by_name()
    {
        using (StoreDatabase.Open(Sqlite(File), shared: false)) { }
        // Keep the header (ours), overwrite the schema page: SQLite cannot read its own tables.
        using (var stream = new FileStream(File, FileMode.Open, FileAccess.Write))
        {
            stream.Position = 100;
            stream.Write(Enumerable.Repeat((byte)0xA5, 3000).ToArray());
        }
        var e = Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: false));
        Assert.Contains(File, e.Message, StringComparison.Ordinal);
        Assert.Contains("damaged", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_database_of_a_newer_schema_is_refused()
    {
        using (StoreDatabase.Open(Sqlite(File), shared: false)) { }
        using (var raw = new SqliteConnection($"Data Source={File}"))
        {
            raw.Open();
            using var bump = raw.CreateCommand();
            bump.CommandText = $"PRAGMA user_version = {StoreDialect.SchemaVersion + 1}";
            bump.ExecuteNonQuery();
        }
        SqliteConnection.ClearAllPools();
        var e = Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: false));
        Assert.Contains("newer version", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_single_server_or_the_nodes_of_one_cluster_use_a_database()
    {
        using (StoreDatabase.Open(Sqlite(File), shared: false))
        {
            Assert.Contains("in use by another server", Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: false)).Message,
                StringComparison.Ordinal);
            Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: true));
        }
        using var first = StoreDatabase.Open(Sqlite(File), shared: true);
        using var second = StoreDatabase.Open(Sqlite(File), shared: true);
        Assert.Equal(first.Id, second.Id);
        Assert.Throws<StoreException>(() => StoreDatabase.Open(Sqlite(File), shared: false));
    }
}
