using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;

namespace HikShare.CommandLineSupport;

/// <summary>
/// What <c>hikshare-gateway</c> and <c>hikshare-cloud</c> share on top of System.CommandLine (this file is linked
/// into both): one-line usage errors with exit code 64 instead of the library's help dump and exit 1.
/// </summary>
internal static class CommandLineUsage
{
    /// <summary>sysexits.h EX_USAGE: unknown command or option, missing or malformed value.</summary>
    public const int ExitCode = 64;

    /// <summary>
    /// The first problem of a parse, as one sentence naming the token: <c>unknown option "--confg"</c>,
    /// <c>unknown command "frobnicate"</c>, <c>unexpected argument "stray"</c>, else the library's message.
    /// Null when the command line parsed.
    /// </summary>
    public static string? Describe(ParseResult result)
    {
        if (result.Errors.Count == 0)
        {
            return null;
        }
        foreach (var token in result.UnmatchedTokens)
        {
            if (token.StartsWith('-'))
            {
                return $"unknown option \"{Printable(token)}\"";
            }
            return result.CommandResult.Parent is null
                ? $"unknown command \"{Printable(token)}\""
                : $"unexpected argument \"{Printable(token)}\"";
        }
        foreach (var e in result.Errors)
        {
            if (e.SymbolResult is OptionResult { Tokens.Count: 0 } o && o.Option.Arity.MinimumNumberOfValues > 0)
            {
                return $"option \"{o.Option.Name}\" needs a value ({o.Option.Name} {o.Option.HelpName ?? "VALUE"})";
            }
        }
        if (result.CommandResult.Command is { Action: null, Subcommands.Count: > 0 })
        {
            return "a command is required";
        }
        return result.Errors[0].Message.TrimEnd('.');
    }

    /// <summary>
    /// Reports a failed parse on <paramref name="error"/>: <c>program command: problem</c>, then where the usage is.
    /// Returns false (nothing written) when the command line parsed.
    /// </summary>
    public static bool TryReport(ParseResult result, TextWriter error, out int exitCode)
    {
        exitCode = 0;
        if (Describe(result) is not { } problem)
        {
            return false;
        }
        var path = CommandPath(result.CommandResult);
        error.WriteLine($"{path}: {problem}");
        error.WriteLine($"Run '{path} --help' for the usage.");
        exitCode = ExitCode;
        return true;
    }

    /// <summary><c>hikshare-gateway discover</c>: the root's name and the names of the subcommands down to this one.</summary>
    public static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? r = command; r is not null; r = r.Parent)
        {
            if (r is CommandResult c)
            {
                names.Add(c.Command.Name);
            }
        }
        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>
    /// The program's top command, named <paramref name="name"/> (a <see cref="RootCommand"/> would take the name of the
    /// executable, <c>testhost</c> under tests) with <c>-h/--help</c>; the programs print their own version.
    /// </summary>
    public static Command CreateRoot(string name, string description)
    {
        var root = new Command(name, description);
        root.Options.Add(new HelpOption());
        return root;
    }

    /// <summary>
    /// An option with a value, shown as <c>--name &lt;VALUE&gt;</c>. Given twice, the last one counts (as before
    /// System.CommandLine, and as in most POSIX tools); <see cref="Last"/> reads it.
    /// </summary>
    public static Option<string[]> Value(string name, string valueName, string description) => new("--" + name)
    {
        Description = description,
        HelpName = valueName,
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The last value given for an option made by <see cref="Value"/>, or null.</summary>
    public static string? Last(ParseResult result, Option<string[]> option) => result.GetValue(option) is { Length: > 0 } v ? v[^1] : null;

    /// <summary>Tokens come from the command line: keep a terminal out of an error message.</summary>
    private static string Printable(string token)
    {
        Span<char> buffer = stackalloc char[Math.Min(token.Length, 80)];
        for (var i = 0; i < buffer.Length; i++)
        {
            buffer[i] = char.IsControl(token[i]) ? '?' : token[i];
        }
        return new string(buffer) + (token.Length > buffer.Length ? "…" : "");
    }

    /// <summary>True when the parse asked for help (its action is the help option's).</summary>
    public static bool IsHelp(ParseResult result) => result.Action is HelpAction;
}
