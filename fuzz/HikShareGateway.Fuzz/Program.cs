using HikShareGateway.Fuzz;
using SharpFuzz;

// hikshare-fuzz TARGET            run under afl-fuzz: SharpFuzz's persistent mode in this process (Fuzzer.Run), the
//                                 input read from stdin into one reused buffer; HIKSHARE_FUZZ_OUT_OF_PROCESS=1 runs the
//                                 target in a child process instead (Fuzzer.OutOfProcess: survives a stack overflow or a
//                                 hang, for triage, several times slower)
// hikshare-fuzz TARGET FILE...    run the target once over each file (a crash reproduces with its stack trace)
// hikshare-fuzz --list            the targets
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: hikshare-fuzz TARGET [FILE...] | --list");
    return 64;
}
if (args[0] == "--list")
{
    foreach (var name in Targets.All.Keys)
    {
        Console.WriteLine(name);
    }
    return 0;
}
if (!Targets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"hikshare-fuzz: unknown target \"{args[0]}\" (--list shows them)");
    return 64;
}
if (args.Length > 1)
{
    foreach (var file in args[1..])
    {
        target(File.ReadAllBytes(file));
    }
    return 0;
}
var input = new InputBuffer();
Action<Stream> run = stream => target(input.Read(stream));
if (Environment.GetEnvironmentVariable("HIKSHARE_FUZZ_OUT_OF_PROCESS") == "1")
{
    Fuzzer.OutOfProcess.Run(run);
}
else
{
    Fuzzer.Run(run);
}
return 0;

/// <summary>Reads one input into a buffer kept across executions (it grows, never shrinks); only the exact-size copy the targets take is allocated.</summary>
internal sealed class InputBuffer
{
    private byte[] _buffer = new byte[1 << 16];

    public byte[] Read(Stream stream)
    {
        var length = 0;
        while (true)
        {
            if (length == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
            var n = stream.Read(_buffer, length, _buffer.Length - length);
            if (n == 0)
            {
                return _buffer.AsSpan(0, length).ToArray();
            }
            length += n;
        }
    }
}
