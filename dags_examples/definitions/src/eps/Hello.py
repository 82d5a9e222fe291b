"""Seed 000/003's user-defined module (figure 4), shipped to the step inside Hello.zip."""


def print_hello(name):
    """Print and return a greeting: the module output shows the bundle was unpacked and imported."""
    greeting = "Hello, %s!" % name
    print(greeting)
    return greeting
