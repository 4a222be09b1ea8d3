using Akka.Actor;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tcp;

/// <summary>Turns away a connection the listener will not admit (too many from its address, a token backoff, no
/// descriptors to spare): registers, writes one Refused frame saying why, closes, stops. It never reads, and it gives
/// the socket back within a second whatever the peer does, so refusals cannot pile up descriptors.</summary>
internal sealed class RefusingConnectionActor : ReceiveActor, IWithTimers
{
    private sealed class GiveUp
    {
        public static readonly GiveUp Instance = new();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef tcpConnection, WireCode code, string reason) =>
        Akka.Actor.Props.Create(() => new RefusingConnectionActor(tcpConnection, code, reason));

    public RefusingConnectionActor(IActorRef tcpConnection, WireCode code, string reason)
    {
        Context.Watch(tcpConnection);
        tcpConnection.Tell(new Akka.IO.Tcp.Register(Self, keepOpenOnPeerClosed: false, useResumeWriting: false));
        tcpConnection.Tell(Akka.IO.Tcp.Write.Create(Akka.IO.ByteString.FromBytes(FrameEncoder.Encode(new Refused(code, reason)))));
        tcpConnection.Tell(Akka.IO.Tcp.Close.Instance);
        Timers.StartSingleTimer(nameof(GiveUp), GiveUp.Instance, TimeSpan.FromSeconds(1));
        Receive<Akka.IO.Tcp.ConnectionClosed>(_ => Context.Stop(Self));
        Receive<Terminated>(_ => Context.Stop(Self));
        Receive<GiveUp>(_ =>
        {
            tcpConnection.Tell(Akka.IO.Tcp.Abort.Instance);
            Context.Stop(Self);
        });
        ReceiveAny(_ => { });
    }
}
