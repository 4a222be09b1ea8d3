using System.Text;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Rooms;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;
using AkkaTcpTransfer.Server.Lines;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Server.Accounts;

/// <summary>What a client's account is told and answers.</summary>
internal static class AccountMessages
{
    /// <summary>The entity id of the account of <paramref name="identity"/> (32 hex digits): "user:IDENTITY".</summary>
    public static string EntityId(string identity) => "user:" + identity;

    /// <summary>The owner connected (its session is <paramref name="Peer"/>, its connection <paramref name="Connection"/>):
    /// it rejoins its rooms, gets the direct messages kept for it, then live ones.</summary>
    public sealed record Online(string Name, IActorRef Peer, IActorRef Connection) : ICrossNodeMessage;

    public sealed record JoinRoom(string Room, string Name, IActorRef Peer, IActorRef Connection) : ICrossNodeMessage;

    public sealed record LeaveRoom(string Room, string Name, IActorRef Peer, IActorRef Connection) : ICrossNodeMessage;

    /// <summary>A direct message for the owner: stored, then delivered if it is online, else kept. The sender (a session,
    /// or the server) is answered SayDone (Held when kept) or SayFailed.</summary>
    public sealed record Deliver(uint Id, string From, string To, string Text, long AtMs, string Key = "") : ICrossNodeMessage;

    /// <summary>Account -> session: send the owner the stored direct messages in this range (a
    /// <see cref="Replay.HistoryReplayActor.Request"/>), then say <see cref="Replayed"/>.</summary>
    public sealed record ReplayDirect(Replay.HistoryReplayActor.Request Request) : ICrossNodeMessage;

    /// <summary>Session -> account: the direct messages up to <paramref name="UpTo"/> were sent to the owner.</summary>
    public sealed record Replayed(long UpTo) : ICrossNodeMessage;

    /// <summary>Session -> account: the owner's connection is gone (its session may live on a moment, winding down): a
    /// message from now on is kept for the next connection.</summary>
    public sealed record Offline(IActorRef Peer) : ICrossNodeMessage;

    /// <summary>Connection -> account: the live message <paramref name="Seq"/> is in the owner's socket: delivered.</summary>
    public sealed record Written(long Seq) : ICrossNodeMessage;
}

/// <summary>One client's account, a persistent entity ("user:IDENTITY", the client's identity digest in hex): the rooms
/// it is a member of (so that a reconnect rejoins them) and the direct messages sent to it. Every direct message is
/// journaled here before its sender is told it was sent; it goes to the owner at once if it is online, else it is kept
/// (history.offline-max-messages, offline-max-bytes, direct-max-age) and sent, as history, on its next connection,
/// before any live message. Delivered messages are deleted from the journal once a snapshot covers the account.</summary>
internal sealed class AccountActor : ReceivePersistentActor
{
    private sealed record Pending(Action Stored, Action<string> Refused);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _id;
    private readonly NodeSettings _settings;
    private readonly IActorRef _rooms;
    private readonly IActorRef _directory;
    private readonly IPassivation _passivation;
    private readonly Queue<Pending> _writes = new();
    /// <summary>The rooms it is a member of: key to the room's name.</summary>
    private readonly Dictionary<string, string> _memberOf = new(StringComparer.Ordinal);
    /// <summary>Rooms asked to take this identity in, not yet answered: they count against rooms.per-client, so that
    /// joins sent together cannot go past it.</summary>
    private readonly HashSet<string> _joining = new(StringComparer.Ordinal);
    /// <summary>Direct messages stored and not yet delivered, oldest first.</summary>
    private readonly List<PendingDirect> _undelivered = [];
    /// <summary>Direct messages lately taken on, for senders that ask again (<see cref="RecentLines"/>).</summary>
    private readonly RecentLines _asked = new(1024);
    /// <summary>Messages that came while the kept ones were being replayed to the owner, online: they go to it live
    /// (as Chat) once that run is over, not as a second run of history.</summary>
    private readonly List<(long Seq, ChatFrame Frame)> _duringReplay = [];
    private long _delivered;
    private long _deliveredStored;
    private string _name = "";
    private IActorRef? _peer;
    private IActorRef? _connection;
    private bool _replaying;
    private int _sinceSnapshot;

    public override string PersistenceId => _id;

    private string Identity => _id["user:".Length..];

    public static Props Props(string id, NodeSettings settings, IActorRef rooms, IActorRef directory, IPassivation passivation) =>
        Akka.Actor.Props.Create(() => new AccountActor(id, settings, rooms, directory, passivation));

    public AccountActor(string id, NodeSettings settings, IActorRef rooms, IActorRef directory, IPassivation passivation)
    {
        _id = id;
        _settings = settings;
        _rooms = rooms;
        _directory = directory;
        _passivation = passivation;

        Recover<SnapshotOffer>(o =>
        {
            var s = (AccountSnapshot)o.Snapshot;
            foreach (var room in s.Rooms) _memberOf[RoomNames.Key(room)] = room;
            _delivered = _deliveredStored = s.Delivered;
            _undelivered.AddRange(s.Pending);
        });
        Recover<RoomEntered>(Apply);
        Recover<RoomExited>(Apply);
        Recover<DirectStored>(e => Apply(e, LastSequenceNr));
        Recover<DirectDelivered>(Apply);

        Command<AccountMessages.Online>(OnOnline);
        Command<AccountMessages.JoinRoom>(OnJoinRoom);
        Command<AccountMessages.LeaveRoom>(OnLeaveRoom);
        // Membership counts at once (the next join is judged by it), and is stored for the next connection.
        Command<RoomMessages.Entered>(e =>
        {
            _joining.Remove(RoomNames.Key(e.Room));
            if (_memberOf.ContainsKey(RoomNames.Key(e.Room))) return;
            var entered = new RoomEntered(e.Room);
            Apply(entered);
            Store(entered, _ => { }, () => { }, _ => { });
        });
        Command<RoomMessages.NotEntered>(e => _joining.Remove(RoomNames.Key(e.Room)));
        Command<RoomMessages.Exited>(e =>
        {
            if (!_memberOf.ContainsKey(RoomNames.Key(e.Room))) return;
            var exited = new RoomExited(e.Room);
            Apply(exited);
            Store(exited, _ => { }, () => { }, _ => { });
        });
        Command<AccountMessages.Deliver>(OnDeliver);
        Command<AccountMessages.Replayed>(r =>
        {
            _delivered = Math.Max(_delivered, r.UpTo);
            _undelivered.RemoveAll(p => p.Seq <= r.UpTo);
            if (_duringReplay.Count > 0 && _connection is not null)
            {
                // Said while the owner was online: live, as a message said now would be (kept until written, as those).
                foreach (var (seq, frame) in _duringReplay)
                    if (seq > r.UpTo) _connection.Tell(new ConnectionMessages.Post(frame, new AccountMessages.Written(seq)));
                var sent = _duringReplay.Select(d => d.Seq).ToHashSet();
                _duringReplay.Clear();
                if (_undelivered.TrueForAll(p => sent.Contains(p.Seq)))
                {
                    _replaying = false;
                    return;
                }
            }
            ReplayOrGoLive();
        });
        Command<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_peer)) GoneOffline();
        });
        Command<AccountMessages.Offline>(o =>
        {
            if (o.Peer.Equals(_peer)) GoneOffline();
        });
        Command<AccountMessages.Written>(w =>
        {
            _delivered = Math.Max(_delivered, w.Seq);
            _undelivered.RemoveAll(p => p.Seq <= w.Seq);
        });
        Command<ReceiveTimeout>(_ =>
        {
            if (_peer is null && _writes.Count == 0) _passivation.Passivate(Context);
        });
        Command<EntityMessages.Stop>(_ => Context.Stop(Self));
        Command<SaveSnapshotSuccess>(s =>
        {
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
            // Everything up to the snapshot is in it, but for the text of messages not yet delivered.
            var keep = _undelivered.Count > 0 ? _undelivered[0].Seq - 1 : long.MaxValue;
            var upTo = Math.Min(s.Metadata.SequenceNr, keep);
            if (upTo > 0) DeleteMessages(upTo);
        });
        Command<SaveSnapshotFailure>(f => _log.Warning("{0}: could not save a snapshot: {1}", _id, f.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("{0}: could not delete old messages: {1}", _id, f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    protected override void PreStart()
    {
        base.PreStart();
        Context.SetReceiveTimeout(_settings.Rooms.IdleUnload);
    }

    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- storing

    private void Store<T>(T e, Action<T> apply, Action stored, Action<string> refused) where T : IStored
    {
        _writes.Enqueue(new Pending(stored, refused));
        PersistAsync(e, stored1 =>
        {
            apply(stored1);
            _writes.Dequeue().Stored();
            _sinceSnapshot++;
        });
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Warning("{0}: the database did not take a {1}: {2}", _id, @event.GetType().Name, cause.Message);
        if (_writes.TryDequeue(out var pending)) pending.Refused($"the server could not store it: {cause.Message}");
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error("{0}: a write to the database failed; the account restarts on its next use: {1}", _id, cause.Message);
        while (_writes.TryDequeue(out var pending)) pending.Refused($"the database did not answer; it may or may not have been stored ({cause.Message})");
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    // ---------------------------------------------------------------- the owner comes and goes

    private void OnOnline(AccountMessages.Online online)
    {
        if (_peer is not null && !_peer.Equals(online.Peer)) Context.Unwatch(_peer);
        _name = online.Name;
        _peer = online.Peer;
        _connection = online.Connection;
        Context.Watch(_peer);
        foreach (var room in _memberOf.Values)
            _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room),
                new RoomMessages.Join(room, Identity, _name, online.Peer, online.Connection, Rejoin: true, Self)));
        DropExpired();
        _replaying = false;
        _duringReplay.Clear();
        ReplayOrGoLive();
    }

    /// <summary>Messages kept for the owner go to it as history, in stretches, until none is left; then new ones go live.</summary>
    private void ReplayOrGoLive()
    {
        if (_peer is null) return;
        if (_undelivered.Count == 0)
        {
            _replaying = false;
            return;
        }
        _replaying = true;
        var minAt = NowMs - (long)_settings.History.DirectMaxAge.TotalMilliseconds;
        _peer.Tell(new AccountMessages.ReplayDirect(new Replay.HistoryReplayActor.Request(_name, _id, _undelivered[0].Seq, _undelivered[^1].Seq, false, minAt)));
    }

    private void GoneOffline()
    {
        Context.Unwatch(_peer);
        _peer = _connection = null;
        _replaying = false;
        _duringReplay.Clear();
        if (_delivered > _deliveredStored)
        {
            var upTo = _delivered;
            Store(new DirectDelivered(upTo), Apply, () => { }, _ => { });
        }
        // The account leaves memory soon: a snapshot makes its next recovery short, and lets delivered messages go.
        Snapshot();
    }

    // ---------------------------------------------------------------- rooms

    private void OnJoinRoom(AccountMessages.JoinRoom join)
    {
        var key = RoomNames.Key(join.Room);
        var request = new RoomMessages.Join(join.Room, Identity, join.Name, join.Peer, join.Connection, Rejoin: false, Self);
        if (_memberOf.TryGetValue(key, out var room))
        {
            _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room), request with { Room = room }));
            return;
        }
        if (_memberOf.Count + _joining.Count >= _settings.Rooms.PerClient)
        {
            join.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(join.Room, WireCode.LimitReached,
                $"you are in {_settings.Rooms.PerClient} rooms, as many as one client may be; leave one first")));
            join.Peer.Tell(new RoomMessages.Settled(join.Room));
            return;
        }
        _joining.Add(key);
        _directory.Tell(new RoomMessages.Open(request));
    }

    private void OnLeaveRoom(AccountMessages.LeaveRoom leave)
    {
        if (!_memberOf.TryGetValue(RoomNames.Key(leave.Room), out var room))
        {
            leave.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(leave.Room, WireCode.NotMember, $"you are not in {leave.Room}")));
            leave.Peer.Tell(new RoomMessages.Settled(leave.Room));
            return;
        }
        _rooms.Tell(new EntityEnvelope(RoomNames.EntityId(room), new RoomMessages.Leave(room, Identity, leave.Name, leave.Peer, leave.Connection, Self)));
    }

    // ---------------------------------------------------------------- direct messages

    private void OnDeliver(AccountMessages.Deliver deliver)
    {
        var sender = Sender;
        // Asked again (no answer reached the asker): the first request's answer, never a second copy.
        if (!_asked.TryBegin(deliver.Key, out var first))
        {
            if (first is { } done) sender.Tell(new LineAnswers.SayDone(deliver.Id, done.AtMs, done.Held));
            return;
        }
        var bytes = Encoding.UTF8.GetByteCount(deliver.Text);
        var live = _peer is not null && !_replaying;
        if (!live)
        {
            DropExpired();
            var limits = _settings.History;
            if (_undelivered.Count >= limits.OfflineMaxMessages || _undelivered.Sum(p => (long)p.Bytes) + bytes > limits.OfflineMaxBytes)
            {
                _asked.Failed(deliver.Key);
                sender.Tell(new LineAnswers.SayFailed(deliver.Id, WireCode.LimitReached,
                    $"not sent: {deliver.To} has as many messages waiting as the server keeps ({_undelivered.Count}); try again once they have read them"));
                return;
            }
        }
        Store(new DirectStored(deliver.From, deliver.To, deliver.AtMs, deliver.Text), e => Apply(e, LastSequenceNr), () =>
        {
            if (_peer is not null && !_replaying && _connection is not null)
            {
                // Delivered once it is in the owner's socket (the connection says so); until then it stays kept, so that
                // a connection lost meanwhile means the message comes again next time, not never.
                _connection.Tell(new ConnectionMessages.Post(new ChatFrame(deliver.From, deliver.To, deliver.AtMs, deliver.Text),
                    new AccountMessages.Written(LastSequenceNr)));
                _asked.Done(deliver.Key, new RecentLines.Outcome(deliver.AtMs, LastSequenceNr, false));
                sender.Tell(new LineAnswers.SayDone(deliver.Id, deliver.AtMs));
                return;
            }
            if (_peer is not null && _replaying)
                _duringReplay.Add((LastSequenceNr, new ChatFrame(deliver.From, deliver.To, deliver.AtMs, deliver.Text)));
            _asked.Done(deliver.Key, new RecentLines.Outcome(deliver.AtMs, LastSequenceNr, _peer is null));
            sender.Tell(new LineAnswers.SayDone(deliver.Id, deliver.AtMs, Held: _peer is null));
        }, why =>
        {
            _asked.Failed(deliver.Key);
            sender.Tell(new LineAnswers.SayFailed(deliver.Id, WireCode.NotStored, $"not sent: {why}"));
        });
    }

    private void DropExpired()
    {
        var cutoff = NowMs - (long)_settings.History.DirectMaxAge.TotalMilliseconds;
        var dropped = _undelivered.RemoveAll(p => p.AtMs < cutoff);
        if (dropped > 0) _log.Info("{0}: {1} direct messages expired undelivered", _id, dropped);
    }

    // ---------------------------------------------------------------- state

    private void Apply(RoomEntered e) => _memberOf[RoomNames.Key(e.Room)] = e.Room;

    private void Apply(RoomExited e) => _memberOf.Remove(RoomNames.Key(e.Room));

    private void Apply(DirectStored e, long seq) => _undelivered.Add(new PendingDirect(seq, e.AtMs, Encoding.UTF8.GetByteCount(e.Text)));

    private void Apply(DirectDelivered e)
    {
        _delivered = Math.Max(_delivered, e.UpTo);
        _deliveredStored = Math.Max(_deliveredStored, e.UpTo);
        _undelivered.RemoveAll(p => p.Seq <= e.UpTo);
    }

    private void Snapshot()
    {
        if (_sinceSnapshot == 0) return;
        _sinceSnapshot = 0;
        SaveSnapshot(new AccountSnapshot([.. _memberOf.Values], _delivered, [.. _undelivered]));
    }
}
