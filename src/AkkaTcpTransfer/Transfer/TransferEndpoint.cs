using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Transfer.Flow;

namespace AkkaTcpTransfer.Transfer;

/// <summary>The part of a connection owner (a client's ClientSessionActor, or the server's PeerActor for one client)
/// that makes its transfer children and routes their frames by transfer id, enforcing each incoming transfer's flow control
/// (<see cref="InboundWindow"/>) before a chunk reaches its receiver's mailbox. Ids belong to one connection: an offer
/// whose id is in use here, in either direction, is rejected without touching the live transfer. Not an actor: it
/// works inside its owner's context, and its owner supervises the children (they are stopped on failure, never
/// restarted; a stopped transfer actor fails its transfer at both ends itself). The windows of its transfers beyond
/// <c>transfer.window</c> come from one <see cref="WindowPool"/> per direction, and go back when a transfer is
/// forgotten here, however it ended.</summary>
internal sealed class TransferEndpoint
{
    private sealed record Entry(uint Id, IActorRef Actor, InboundWindow? Window, WindowPool.Share Share);

    private readonly IActorContext _context;
    private readonly NodeSettings _settings;
    private readonly IActorRef _transfers;
    private readonly IActorRef _partials;
    private readonly string _localName;
    private readonly Dictionary<uint, Entry> _byId = [];
    private readonly Dictionary<IActorRef, Entry> _byActor = [];
    private readonly WindowPool _sending;
    private readonly WindowPool _receiving;
    private int _receives;

    public TransferEndpoint(IActorContext context, NodeSettings settings, IActorRef transfers, IActorRef partials, string localName)
    {
        _context = context;
        _settings = settings;
        _transfers = transfers;
        _partials = partials;
        _localName = localName;
        _sending = new WindowPool(settings.Transfer.Window, settings.Transfer.MaxWindow);
        _receiving = new WindowPool(settings.Transfer.Window, settings.Transfer.MaxWindow,
            WindowPool.NodeBudget(context.System, settings.Transfer.NodeWindowBudget));
    }

    public bool Owns(uint id) => _byId.ContainsKey(id);

    /// <summary>The transfer actors that may still send frames (those that have not finished).</summary>
    public IEnumerable<IActorRef> Actors => _byActor.Keys;

    /// <summary>Start sending <paramref name="spec"/> over <paramref name="connection"/>; <paramref name="senderId"/>
    /// is this node's identity as the receiver will see it in the offer (empty from a client: the server stamps it).</summary>
    /// <param name="table">Who hears of the send's start, progress and end (the node's table; the spool for a file it
    /// delivers).</param>
    /// <param name="from">The sender's name in the offer (this node's; for a kept file, whoever uploaded it).</param>
    public void StartSend(TransferMessages.StartSend spec, IActorRef connection, byte[] senderId, IActorRef? table = null, string? from = null)
    {
        table ??= _transfers;
        if (_byId.ContainsKey(spec.Id))
        {
            table.Tell(new TransferMessages.SendRefused(spec.Id, "transfer id already in use"));
            return;
        }
        var share = _sending.NewShare();
        var actor = _context.ActorOf(SenderActor.Props(spec, connection, table, _settings, from ?? _localName, senderId, share),
            $"send-{TransferIds.Format(spec.Id)}");
        Add(new Entry(spec.Id, actor, null, share), receiving: false);
    }

    /// <summary>An offer arrived (its From and SenderId already vouched for): make a receiver, or refuse at once.</summary>
    /// <param name="maxChunk">The largest chunk this node (and any relay in between) accepts.</param>
    /// <param name="origin">Where the sender's identity comes from (the server's address, on a client), so that partial
    /// files of different servers never mix.</param>
    /// <param name="spool">For an upload the server keeps for its recipients: where it lands.</param>
    /// <returns>False when the offer was refused at once (no receiver was made).</returns>
    public bool Offer(Offer offer, IActorRef connection, int maxChunk, string origin, SpoolUpload? spool = null)
    {
        if (_byId.ContainsKey(offer.Id))
        {
            connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, "transfer id already in use on this connection; offer again")));
            return false;
        }
        if (_receives >= _settings.Transfer.MaxConcurrentReceives)
        {
            connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id,
                $"{ProtocolLimits.TryLaterPrefix}incoming transfers at once (at most {_settings.Transfer.MaxConcurrentReceives}); try again later")));
            return false;
        }
        var share = _receiving.NewShare();
        var window = new InboundWindow(share);
        var actor = _context.ActorOf(ReceiverActor.Props(offer, connection, _transfers, _partials, _settings, _localName, maxChunk, origin, window, spool),
            $"recv-{TransferIds.Format(offer.Id)}");
        Add(new Entry(offer.Id, actor, window, share), receiving: true);
        return true;
    }

    /// <summary>Passes a frame to the transfer it belongs to; false if no transfer here has that id. A Start or Chunk
    /// that breaks the receiver's flow control is not passed on: the receiver is told to fail the transfer.</summary>
    public bool Route(TransferFrame frame)
    {
        if (!_byId.TryGetValue(frame.Id, out var entry)) return false;
        if (entry.Window is { } window)
        {
            var problem = frame switch
            {
                Start start => window.Start(start),
                Chunk chunk => window.Admit(chunk),
                Done done => window.Finish(done),
                _ => null,
            };
            if (problem is not null)
            {
                (frame as Chunk)?.Release();
                if (problem.Length > 0) entry.Actor.Tell(new TransferMessages.Violation(problem));
                return true;
            }
        }
        entry.Actor.Tell(frame);
        return true;
    }

    /// <summary>A transfer actor is over: route nothing more to it, then let it stop (frames routed before this
    /// reach it first, so none is lost to dead letters).</summary>
    public void Finished(TransferMessages.Finished finished)
    {
        // Released once, by the Finished that made us forget it.
        if (Forget(finished.Transfer)) finished.Transfer.Tell(TransferMessages.Release.Instance);
    }

    /// <summary>Forget a child that stopped; true if it was one of ours.</summary>
    public bool Terminated(IActorRef actor) => Forget(actor);

    private bool Forget(IActorRef actor)
    {
        if (!_byActor.Remove(actor, out var entry)) return false;
        _byId.Remove(entry.Id);
        entry.Share.Release();
        if (entry.Window is not null) _receives--;
        return true;
    }

    public void ConnectionLost(string reason)
    {
        foreach (var entry in _byId.Values) entry.Actor.Tell(new TransferMessages.ConnectionLost(reason));
    }

    private void Add(Entry entry, bool receiving)
    {
        _byId[entry.Id] = entry;
        _byActor[entry.Actor] = entry;
        if (receiving) _receives++;
        _context.Watch(entry.Actor);
    }
}
