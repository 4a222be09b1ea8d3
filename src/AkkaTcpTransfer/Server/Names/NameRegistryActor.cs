using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Text;
using AkkaTcpTransfer.Server.Lines;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Server.Names;

/// <summary>What the name registry is asked, and answers.</summary>
internal static class NameMessages
{
    /// <summary>May <paramref name="Identity"/> go by <paramref name="Name"/>? The first identity to ask for a free name
    /// registers it.</summary>
    public sealed record Use(long Request, string Name, string Identity) : ICrossNodeMessage;

    /// <param name="Registered">The name is (now) registered to the asker.</param>
    public sealed record UseAnswer(long Request, bool Allowed, bool Registered, string Reason) : ICrossNodeMessage;

    /// <summary>The owner was online until now (or is still): its name's expiry counts from here.</summary>
    public sealed record Touch(string Name, string Identity) : ICrossNodeMessage;

    /// <summary>The owner lets its name go (/unregister). Answered with <see cref="Status"/>.</summary>
    public sealed record Release(string Name, string Identity) : ICrossNodeMessage;

    /// <summary>An operator frees a name, whoever holds it. Answered with <see cref="Status"/>.</summary>
    public sealed record Free(string Name) : ICrossNodeMessage;

    public sealed record Status(string Name, bool Registered, string Reason) : ICrossNodeMessage;

    /// <summary>Deliver a direct message to the account of whoever registered <paramref name="Name"/> (the sender kept,
    /// as the account answers it), or tell the sender nobody did.</summary>
    /// <summary>Spool -> registry: who owns these names (<see cref="OwnersFound"/>; Identity "" for a name nobody registered).</summary>
    public sealed record Owners(long Token, IReadOnlyList<string> Names);

    public sealed record OwnersFound(long Token, IReadOnlyList<(string Asked, string Name, string Identity)> Names);

    public sealed record DeliverToOwner(string Name, Accounts.AccountMessages.Deliver Message) : ICrossNodeMessage;
}

/// <summary>Names that stay their owner's: the first identity (a client's resume key) to use a name registers it, and
/// from then on only that identity may use it or a name that looks like it, until the owner releases it, it goes
/// unused for names.expire-after, or an operator frees it. One persistent actor decides every registration, one at a
/// time (in a cluster, one for the whole cluster), so two clients can never both register a name. Its state (every
/// registration, at most names.max-registered) is in memory and in a snapshot; events since the snapshot are replayed
/// at start.</summary>
internal sealed class NameRegistryActor : ReceivePersistentActor, IWithTimers
{
    private sealed record Registration(string Name, string Identity, long RegisteredMs, long UsedMs);

    private sealed class Expire
    {
        public static readonly Expire Instance = new();
        private Expire() { }
    }

    /// <summary>A name's last use is recorded at most this often.</summary>
    private static readonly long TouchEveryMs = (long)TimeSpan.FromDays(1).TotalMilliseconds;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NameSettings _settings;
    private readonly int _snapshotEvery;
    private readonly IActorRef _accounts;
    private readonly Func<long> _now;
    private readonly Dictionary<string, Registration> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Registration> _byShape = new(StringComparer.Ordinal);
    private int _sinceSnapshot;

    public ITimerScheduler Timers { get; set; } = null!;

    public override string PersistenceId => "names";

    /// <param name="accounts">Where accounts live (<see cref="EntityEnvelope"/>s to "user:IDENTITY").</param>
    /// <param name="now">For tests: the clock, in Unix milliseconds.</param>
    public static Props Props(NameSettings settings, int snapshotEvery, IActorRef accounts, Func<long>? now = null) =>
        Akka.Actor.Props.Create(() => new NameRegistryActor(settings, snapshotEvery, accounts, now));

    public NameRegistryActor(NameSettings settings, int snapshotEvery, IActorRef accounts, Func<long>? now)
    {
        _settings = settings;
        _snapshotEvery = snapshotEvery;
        _accounts = accounts;
        _now = now ?? (() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Recover<SnapshotOffer>(o =>
        {
            foreach (var n in ((NamesSnapshot)o.Snapshot).Names) Add(new Registration(n.Name, n.Identity, n.RegisteredMs, n.UsedMs));
        });
        Recover<NameRegistered>(Apply);
        Recover<NameReleased>(Apply);
        Recover<NameUsed>(Apply);

        Command<NameMessages.Use>(OnUse);
        Command<NameMessages.Touch>(t =>
        {
            if (Find(t.Name) is { } r && r.Identity == t.Identity && _now() - r.UsedMs >= TouchEveryMs)
                PersistAsync(new NameUsed(r.Name, _now()), e => Applied(Apply, e));
        });
        Command<NameMessages.Release>(r =>
        {
            if (Find(r.Name) is not { } held || held.Identity != r.Identity)
            {
                Sender.Tell(new NameMessages.Status(r.Name, false, $"'{r.Name}' is not registered to you"));
                return;
            }
            var asker = Sender;
            _onRejected = why => asker.Tell(new NameMessages.Status(held.Name, true, $"'{held.Name}' could not be released: {why}"));
            Persist(new NameReleased(held.Name, _now(), "released"), e =>
            {
                _onRejected = null;
                Applied(Apply, e);
                Sender.Tell(new NameMessages.Status(held.Name, false, $"'{held.Name}' is no longer registered; it is yours until you leave"));
            });
        });
        Command<NameMessages.Free>(f =>
        {
            if (Find(f.Name) is not { } held)
            {
                Sender.Tell(new NameMessages.Status(f.Name, false, $"'{f.Name}' is not registered"));
                return;
            }
            var asker = Sender;
            _onRejected = why => asker.Tell(new NameMessages.Status(held.Name, true, $"'{held.Name}' could not be freed: {why}"));
            Persist(new NameReleased(held.Name, _now(), "freed"), e =>
            {
                _onRejected = null;
                Applied(Apply, e);
                _log.Info("name {0} freed by the operator", held.Name);
                Sender.Tell(new NameMessages.Status(held.Name, false, $"'{held.Name}' is free"));
            });
        });
        Command<NameMessages.Owners>(o => Sender.Tell(new NameMessages.OwnersFound(o.Token,
            [.. o.Names.Select(asked => Find(asked) is { } r ? (asked, r.Name, r.Identity) : (asked, asked, ""))])));
        Command<NameMessages.DeliverToOwner>(t =>
        {
            if (Find(t.Name) is { } owner) _accounts.Forward(new EntityEnvelope(Accounts.AccountMessages.EntityId(owner.Identity), t.Message with { To = owner.Name }));
            else Sender.Tell(new LineAnswers.SayFailed(t.Message.Id, WireCode.UnknownPeer, $"no one named '{t.Name}' is online or registered"));
        });
        Command<Expire>(_ => ExpireUnused());
        Command<SaveSnapshotSuccess>(s =>
        {
            // Everything up to the snapshot is in it: the events go, and so do older snapshots.
            DeleteMessages(s.Metadata.SequenceNr);
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
        });
        Command<SaveSnapshotFailure>(f => _log.Warning("the name registry could not save a snapshot: {0}", f.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning("the name registry could not delete old events: {0}", f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(_ => { });
    }

    protected override void OnReplaySuccess()
    {
        _log.Info("name registry: {0} registered names", _byKey.Count);
        var every = TimeSpan.FromMilliseconds(Math.Clamp(_settings.ExpireAfter.TotalMilliseconds / 10, 1000, TimeSpan.FromHours(1).TotalMilliseconds));
        Timers.StartPeriodicTimer(nameof(Expire), Expire.Instance, TimeSpan.FromSeconds(1), every);
    }

    private void OnUse(NameMessages.Use use)
    {
        if (Find(use.Name) is { } held)
        {
            if (held.Identity == use.Identity)
            {
                Sender.Tell(new NameMessages.UseAnswer(use.Request, true, true, ""));
                if (_now() - held.UsedMs >= TouchEveryMs) PersistAsync(new NameUsed(held.Name, _now()), e => Applied(Apply, e));
                return;
            }
            var reason = PeerNames.Key(use.Name) == PeerNames.Key(held.Name)
                ? $"the name '{held.Name}' is registered to someone else"
                : $"the name '{use.Name}' looks like '{held.Name}', which is registered to someone else";
            Sender.Tell(new NameMessages.UseAnswer(use.Request, false, false, reason));
            return;
        }
        if (_byKey.Count >= _settings.MaxRegistered)
        {
            Sender.Tell(new NameMessages.UseAnswer(use.Request, true, false,
                $"the server registers no more names (names.max-registered = {_settings.MaxRegistered}): '{use.Name}' is yours while you are online"));
            return;
        }
        // Persist, not PersistAsync: the next claim of this name waits for this one.
        var asker = Sender;
        _onRejected = why => asker.Tell(new NameMessages.UseAnswer(use.Request, true, false,
            $"'{use.Name}' could not be registered ({why}); it is yours while you are online"));
        Persist(new NameRegistered(use.Name, use.Identity, _now()), e =>
        {
            _onRejected = null;
            Applied(Apply, e);
            Sender.Tell(new NameMessages.UseAnswer(use.Request, true, true, ""));
        });
    }

    private void ExpireUnused()
    {
        var cutoff = _now() - (long)_settings.ExpireAfter.TotalMilliseconds;
        var expired = _byKey.Values.Where(r => r.UsedMs < cutoff).Select(r => new NameReleased(r.Name, _now(), "expired")).ToList();
        if (expired.Count == 0) return;
        _log.Info("{0} registered names expired (unused for {1})", expired.Count, Units.Duration(_settings.ExpireAfter.TotalSeconds));
        PersistAllAsync(expired, e => Applied(Apply, e));
    }

    private Registration? Find(string name)
    {
        if (PeerNames.Validate(name) is not null) return null;
        if (_byKey.TryGetValue(PeerNames.Key(name), out var found)) return found;
        return _byShape.TryGetValue(PeerNames.ShapeKey(name), out found) ? found : null;
    }

    private void Apply(NameRegistered e) => Add(new Registration(e.Name, e.Identity, e.AtMs, e.AtMs));

    private void Apply(NameReleased e)
    {
        if (Find(e.Name) is not { } held) return;
        _byKey.Remove(PeerNames.Key(held.Name));
        _byShape.Remove(PeerNames.ShapeKey(held.Name));
    }

    private void Apply(NameUsed e)
    {
        if (Find(e.Name) is { } held) Add(held with { UsedMs = e.AtMs });
    }

    private void Add(Registration registration)
    {
        _byKey[PeerNames.Key(registration.Name)] = registration;
        _byShape[PeerNames.ShapeKey(registration.Name)] = registration;
    }

    /// <summary>An event was stored and applied: now and then the whole registry is saved as a snapshot.</summary>
    private void Applied<T>(Action<T> apply, T e)
    {
        apply(e);
        if (++_sinceSnapshot < _snapshotEvery) return;
        _sinceSnapshot = 0;
        SaveSnapshot(new NamesSnapshot([.. _byKey.Values.Select(r => new NameRecord(r.Name, r.Identity, r.RegisteredMs, r.UsedMs))]));
    }

    /// <summary>For the change being stored (one at a time: Persist holds further commands back), how its asker hears
    /// that the database did not take it. A registration the database refuses still lets the client in, unregistered:
    /// a full disk is no reason to keep people out.</summary>
    private Action<string>? _onRejected;

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Warning("the name registry could not store {0}: {1}", @event.GetType().Name, cause.Message);
        if (@event is NameUsed) return;
        _onRejected?.Invoke(cause.Message);
        _onRejected = null;
    }
}
