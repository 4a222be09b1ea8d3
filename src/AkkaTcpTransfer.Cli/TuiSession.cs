using System.Runtime.InteropServices;
using Akka.Actor;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Tui;
using Terminal.Gui.App;

namespace AkkaTcpTransfer.Cli;

/// <summary>The full-screen UI for one running node: Terminal.Gui on the calling thread, fed by a
/// <see cref="UiBridgeActor"/>, until the person quits or the node ends. The terminal is restored on every way out:
/// Dispose in a finally, an unhandled exception on any thread, SIGTERM and SIGINT (with a watchdog), never SIGHUP
/// (cancelling it once left a process spinning on a dead terminal after tmux killed its session).</summary>
internal sealed class TuiSession
{
    /// <summary>Where the bridge delivers snapshots: nowhere until the window runs (the bridge then keeps them); and the
    /// way back to the bridge, for the person's switches between conversations.</summary>
    public sealed class Sink
    {
        private volatile Action<UiSnapshot>? _target;
        private IActorRef _bridge = ActorRefs.Nobody;

        public bool Post(UiSnapshot snapshot)
        {
            var target = _target;
            if (target is null) return false;
            target(snapshot);
            return true;
        }

        public void Connect(Action<UiSnapshot>? target) => _target = target;

        /// <summary>Shows the conversation of <paramref name="room"/> (null: the server-wide room).</summary>
        public void Show(string? room) => _bridge.Tell(new UiBridgeMessages.ShowRoom(room));

        /// <summary>Shows the next conversation (<paramref name="step"/> 1) or the previous one (-1).</summary>
        public void Step(int step) => _bridge.Tell(new UiBridgeMessages.ShowNext(step));

        public void Bind(IActorRef bridge) => _bridge = bridge;
    }

    /// <summary>Starts the bridge on the node's actor system (before the node starts, so no event is missed).</summary>
    public static void Attach(ActorSystem system, ScreenModel model, Sink sink) =>
        sink.Bind(system.ActorOf(UiBridgeActor.Props(model, sink.Post), "ui"));

    /// <summary>Runs the window until the person quits or <paramref name="exit"/> completes; returns the exit code.</summary>
    public static int Run(NodeHost node, Sink sink, Task<int> exit, Action quit, Action<string, Action<string>> handle, Action<string, bool> decide)
    {
        var app = Application.Create();
        ChatWindow? window = null;
        void Restore(object? _, UnhandledExceptionEventArgs __)
        {
            try
            {
                app.Dispose();
            }
            catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
            {
                // already restored
            }
        }
        AppDomain.CurrentDomain.UnhandledException += Restore;
        try
        {
            app.Init();
            window = new ChatWindow($"akka-tcp-transfer — {node.Settings.Name}");
            window.Submitted += line => handle(line, window.Note);
            window.Decided += decide;
            window.QuitRequested += quit;
            window.RoomChosen += sink.Show;
            window.RoomStepped += sink.Step;
            sink.Connect(snapshot => app.Invoke(() => window.Show(snapshot)));
            // Whatever ends the session (a signal, /quit, the connection refused) stops the UI loop.
            exit.ContinueWith(_ => app.Invoke(() => app.RequestStop()), TaskScheduler.Default);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                quit();
                Watchdog();
            });
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
            {
                c.Cancel = true;
                quit();
                Watchdog();
            });
            app.Run(window);
        }
        finally
        {
            sink.Connect(null);
            window?.Dispose();
            app.Dispose();
            AppDomain.CurrentDomain.UnhandledException -= Restore;
        }
        return exit.IsCompleted ? exit.Result : ExitCodes.Ok;
    }

    /// <summary>A UI that does not stop within 2 s of a signal is cut short, terminal restored first.</summary>
    private static void Watchdog() =>
        _ = Task.Delay(TimeSpan.FromSeconds(2)).ContinueWith(_ => Environment.Exit(143), TaskScheduler.Default);
}
