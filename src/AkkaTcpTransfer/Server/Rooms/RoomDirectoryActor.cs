using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Server.Rooms;

/// <summary>The list of rooms (a persistent entity, "rooms"; one per cluster): which exist, with their member counts
/// and topics, for /rooms without waking every room. It decides, one at a time, whether a new room may be made: a name
/// that looks like an existing room's is refused, and so is a room past rooms.per-server. Rooms tell it when their
/// members or topic change and when they close. Now and then it asks every room to enforce its retention, so that a
/// room nobody uses is kept to its limits too.</summary>
internal sealed class RoomDirectoryActor : ReceivePersistentActor, IWithTimers
{
    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
        private Sweep() { }
    }

    private sealed record SweepNext(int Index);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeSettings _settings;
    private readonly IActorRef _rooms;
    private readonly Dictionary<string, RoomEntry> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _keyByShape = new(StringComparer.Ordinal);
    private int _sinceSnapshot;
    private List<string> _sweep = [];

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => "rooms";

    /// <param name="rooms">Where rooms live (<see cref="EntityEnvelope"/>s to "room:KEY").</param>
    public static Props Props(NodeSettings settings, IActorRef rooms) => Akka.Actor.Props.Create(() => new RoomDirectoryActor(settings, rooms));

    public RoomDirectoryActor(NodeSettings settings, IActorRef rooms)
    {
        _settings = settings;
        _rooms = rooms;
        Recover<SnapshotOffer>(o =>
        {
            foreach (var room in ((DirectorySnapshot)o.Snapshot).Rooms) Add(room);
        });
        Recover<RoomListed>(Apply);
        Recover<RoomUnlisted>(Apply);
        Recover<RoomSummarised>(Apply);

        Command<RoomMessages.Open>(OnOpen);
        // The list follows at once (it is what /rooms shows next), and is stored for the next start.
        Command<RoomMessages.Summary>(s =>
        {
            if (!s.Open)
            {
                if (!_byKey.ContainsKey(RoomNames.Key(s.Room))) return;
                var unlisted = new RoomUnlisted(s.Room);
                Apply(unlisted);
                PersistAsync(unlisted, _ => Stored());
                return;
            }
            var summarised = new RoomSummarised(s.Room, s.Members, s.Topic);
            Apply(summarised);
            PersistAsync(summarised, _ => Stored());
        });
        Command<RoomMessages.List>(l =>
        {
            var list = new List<RoomInfo>();
            var used = 0;
            foreach (var room in _byKey.Values.OrderBy(r => r.Name, StringComparer.OrdinalIgnoreCase))
            {
                used += 8 + System.Text.Encoding.UTF8.GetByteCount(room.Name) + System.Text.Encoding.UTF8.GetByteCount(room.Topic);
                if (used > l.Budget) break;
                list.Add(new RoomInfo(room.Name, room.Members, room.Topic));
            }
            l.Connection.Tell(new ConnectionMessages.Post(new RoomList(list)));
        });
        Command<Sweep>(_ =>
        {
            _sweep = [.. _byKey.Values.Select(r => r.Name)];
            Self.Tell(new SweepNext(0));
        });
        // A hundred rooms a second at most: recovering every room at once would take the server's time from its clients.
        Command<SweepNext>(n =>
        {
            var end = Math.Min(n.Index + 100, _sweep.Count);
            for (var i = n.Index; i < end; i++) _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(_sweep[i]), RoomMessages.Retain.Instance));
            _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(""), RoomMessages.Retain.Instance));
            if (end < _sweep.Count) Timers.StartSingleTimer(nameof(SweepNext), new SweepNext(end), TimeSpan.FromSeconds(1));
        });
        Command<SaveSnapshotSuccess>(s =>
        {
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning("the list of rooms could not save a snapshot: {0}", f.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(_ => { });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    protected override void OnReplaySuccess()
    {
        _log.Info("{0} rooms", _byKey.Count);
        Timers.StartPeriodicTimer(nameof(Sweep), Sweep.Instance, _settings.History.RetentionInterval);
    }

    private void OnOpen(RoomMessages.Open open)
    {
        var join = open.Join;
        var key = RoomNames.Key(join.Room);
        if (_byKey.TryGetValue(key, out var existing))
        {
            _rooms.Forward(new EntityEnvelope(RoomNames.EntityId(existing.Name), join with { Room = existing.Name }));
            return;
        }
        if (_keyByShape.TryGetValue(RoomNames.ShapeKey(join.Room), out var lookalike))
        {
            Refuse(join, WireCode.InvalidName, $"{join.Room} looks like {_byKey[lookalike].Name}, which exists: join that one, or choose another name");
            return;
        }
        if (_byKey.Count >= _settings.Rooms.PerServer)
        {
            Refuse(join, WireCode.LimitReached, $"the server has as many rooms as it keeps ({_settings.Rooms.PerServer}); join an existing one");
            return;
        }
        var sender = Sender;
        // Persist, not PersistAsync: a second Open of the same name waits for this one, and finds the room.
        _onRejected = why => Refuse(join, WireCode.NotStored, $"{join.Room} could not be made: {why}");
        Persist(new RoomListed(join.Room, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()), e =>
        {
            _onRejected = null;
            Apply(e);
            Stored();
            _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(e.Name), join), sender);
        });
    }

    private static void Refuse(RoomMessages.Join join, WireCode code, string reason)
    {
        join.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(join.Room, code, reason)));
        join.Account.Tell(new RoomMessages.NotEntered(join.Room));
        join.Peer.Tell(new RoomMessages.Settled(join.Room));
    }

    private Action<string>? _onRejected;

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Warning("the list of rooms could not store {0}: {1}", @event.GetType().Name, cause.Message);
        if (@event is not RoomListed) return;
        _onRejected?.Invoke(cause.Message);
        _onRejected = null;
    }

    private void Apply(RoomListed e) => Add(new RoomEntry(e.Name, e.AtMs, 0, ""));

    private void Apply(RoomUnlisted e)
    {
        if (!_byKey.Remove(RoomNames.Key(e.Name), out var removed)) return;
        _keyByShape.Remove(RoomNames.ShapeKey(removed.Name));
    }

    private void Apply(RoomSummarised e)
    {
        var key = RoomNames.Key(e.Name);
        Add(_byKey.TryGetValue(key, out var entry) ? entry with { Members = e.Members, Topic = e.Topic } : new RoomEntry(e.Name, 0, e.Members, e.Topic));
    }

    private void Add(RoomEntry room)
    {
        _byKey[RoomNames.Key(room.Name)] = room;
        _keyByShape[RoomNames.ShapeKey(room.Name)] = RoomNames.Key(room.Name);
    }

    private void Stored()
    {
        if (++_sinceSnapshot < _settings.History.SnapshotEvery) return;
        _sinceSnapshot = 0;
        SaveSnapshot(new DirectorySnapshot([.. _byKey.Values]));
    }
}
