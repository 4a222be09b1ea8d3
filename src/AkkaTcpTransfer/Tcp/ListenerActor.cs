using System.Net;
using Akka.Actor;
using Akka.IO;
using static AkkaTcpTransfer.Tcp.ListenerMessages;

namespace AkkaTcpTransfer.Tcp;

/// <summary>Binds the server's listening socket with Akka.IO and gives every accepted connection its own owner
/// actor (made by <c>ownerProps</c>) as a child. A failing child is stopped, never restarted, and never affects
/// the listener or its siblings. Binds with SO_REUSEADDR only (see <see cref="ReuseAddressOnly"/>).</summary>
internal sealed class ListenerActor : ReceiveActor
{
    private readonly Func<IActorRef, EndPoint, Props> _ownerProps;
    private IActorRef? _akkaListener;
    private IActorRef? _drainRequester;
    private bool _unbinding;
    private long _accepted;

    public static Props Props(IPEndPoint endpoint, int backlog, int unsentLowWatermark, Func<IActorRef, EndPoint, Props> ownerProps) =>
        Akka.Actor.Props.Create(() => new ListenerActor(endpoint, backlog, unsentLowWatermark, ownerProps));

    public ListenerActor(IPEndPoint endpoint, int backlog, int unsentLowWatermark, Func<IActorRef, EndPoint, Props> ownerProps)
    {
        _ownerProps = ownerProps;
        // Bind options reach every accepted connection too (AfterConnect).
        Context.System.Tcp().Tell(new Akka.IO.Tcp.Bind(Self, endpoint, backlog,
            options: [ReuseAddressOnly.Instance, new UnsentLowWatermark(unsentLowWatermark)]));
        Become(Binding);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void Binding()
    {
        Receive<Akka.IO.Tcp.Bound>(b =>
        {
            _akkaListener = Sender;
            Context.Parent.Tell(new Bound((IPEndPoint)b.LocalAddress));
            Become(Listening);
        });
        Receive<Akka.IO.Tcp.CommandFailed>(f =>
        {
            var cause = f.Cause.HasValue ? f.Cause.Value.Message : "unknown reason";
            Context.Parent.Tell(new BindFailed(cause));
            Context.Stop(Self);
        });
        Receive<Drain>(_ =>
        {
            Sender.Tell(Drained.Instance);
            Context.Stop(Self);
        });
    }

    private void Listening()
    {
        Receive<Akka.IO.Tcp.Connected>(c =>
        {
            _accepted++;
            Context.ActorOf(_ownerProps(Sender, c.RemoteAddress), $"peer-{_accepted}");
        });
        Receive<Drain>(d =>
        {
            _drainRequester = Sender;
            foreach (var child in Context.GetChildren())
            {
                Context.Watch(child);
                child.Tell(new ShutdownNotice(d.Reason));
            }
            Become(Draining);
            CheckDrained();
        });
    }

    /// <summary>Closing every connection gracefully, then unbinding. The order matters: in Akka.NET 1.5.74 accepted
    /// connections are children of Akka's TcpListener, and Unbind stops it, which aborts (RST) every connection
    /// still open and loses the Goodbye we just queued.</summary>
    private void Draining()
    {
        Receive<Akka.IO.Tcp.Connected>(_ => Sender.Tell(Akka.IO.Tcp.Abort.Instance));
        Receive<Terminated>(_ => CheckDrained());
        Receive<Akka.IO.Tcp.Unbound>(_ =>
        {
            _drainRequester?.Tell(Drained.Instance);
            Context.Stop(Self);
        });
        Receive<Drain>(_ => _drainRequester = Sender);
    }

    private void CheckDrained()
    {
        if (_unbinding || Context.GetChildren().Any()) return;
        _unbinding = true;
        if (_akkaListener is not null)
        {
            _akkaListener.Tell(Akka.IO.Tcp.Unbind.Instance);
            return;
        }
        _drainRequester?.Tell(Drained.Instance);
        Context.Stop(Self);
    }
}
